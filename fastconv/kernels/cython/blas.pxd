# Single-threaded BLAS GEMM for the Cython kernels (scipy.linalg.cython_blas,
# nogil); callers limit BLAS to one thread inside their OpenMP regions.
from scipy.linalg.cython_blas cimport dgemm, sgemm

from .fused cimport real


cdef inline void gemm(bint transa, int m, int n, int k, const real* a, int lda,
                      const real* b, int ldb, bint accumulate, real* c,
                      int ldc) noexcept nogil:
    """Column-major C = op(A) B (+ C when ``accumulate``), op = transpose if ``transa``."""
    cdef char ta = b'T' if transa else b'N'
    cdef char tb = b'N'
    cdef float salpha = 1, sbeta = 1 if accumulate else 0
    cdef double dalpha = 1, dbeta = 1 if accumulate else 0
    if real is float:
        sgemm(&ta, &tb, &m, &n, &k, &salpha, <float*>a, &lda, <float*>b, &ldb, &sbeta,
              c, &ldc)
    else:
        dgemm(&ta, &tb, &m, &n, &k, &dalpha, <double*>a, &lda, <double*>b, &ldb, &dbeta,
              c, &ldc)
