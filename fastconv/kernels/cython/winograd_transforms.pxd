# The Winograd transforms of ``winograd_transforms.h`` (C with ``restrict``, so GCC
# vectorises them) for the forward (winograd.pyx) and the weight gradient
# (wgrad.pyx): the declarations once, and fused-type wrappers picking the
# float/double and F(2)/F(4) variant.
from .fused cimport real


cdef extern from "winograd_transforms.h":
    const double wg_G2[12]
    const double wg_G4[18]
    Py_ssize_t wg_ld(Py_ssize_t n) nogil
    Py_ssize_t wg_weight16_f(const float* s, float* d, Py_ssize_t ds, int m,
                             Py_ssize_t n) nogil
    int wg_input_f(int m, int ah, const float* xg, Py_ssize_t cs, Py_ssize_t CHW,
                   Py_ssize_t nci, Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                   Py_ssize_t t0, Py_ssize_t T, Py_ssize_t TW, Py_ssize_t per_img, float* V,
                   Py_ssize_t vs, Py_ssize_t fs, int full) nogil
    int wg_output_f(int m, int ah, const float* M, Py_ssize_t ms, Py_ssize_t fs,
                    Py_ssize_t nco, const float* bias, float* out, Py_ssize_t OHW,
                    Py_ssize_t COHW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t t0, Py_ssize_t T,
                    Py_ssize_t TW, Py_ssize_t per_img) nogil
    int wg_fused_job(const float* V, Py_ssize_t lv, Py_ssize_t fv, const float* w,
                     Py_ssize_t Ci, Py_ssize_t co0, Py_ssize_t nco, Py_ssize_t T,
                     Py_ssize_t cib, float* Ub, float* M, Py_ssize_t lm, int st) nogil
    void wg_rowat_f(int m, const float* s, Py_ssize_t ss, float* y, float bias,
                    Py_ssize_t n) nogil
    void wg_rowat_d(int m, const double* s, Py_ssize_t ss, double* y, double bias,
                    Py_ssize_t n) nogil
    void wg_rowbt_f(int m, const float* r, float* o, Py_ssize_t os, Py_ssize_t n) nogil
    void wg_rowbt_d(int m, const double* r, double* o, Py_ssize_t os, Py_ssize_t n) nogil
    void wg_bt4_f(const float* s, Py_ssize_t ss, float* d, Py_ssize_t ds, Py_ssize_t n) nogil
    void wg_bt2_f(const float* s, Py_ssize_t ss, float* d, Py_ssize_t ds, Py_ssize_t n) nogil
    void wg_at4_f(const float* s, Py_ssize_t ss, float* d, Py_ssize_t ds, Py_ssize_t n) nogil
    void wg_at2_f(const float* s, Py_ssize_t ss, float* d, Py_ssize_t ds, Py_ssize_t n) nogil
    void wg_bt4_d(const double* s, Py_ssize_t ss, double* d, Py_ssize_t ds,
                  Py_ssize_t n) nogil
    void wg_bt2_d(const double* s, Py_ssize_t ss, double* d, Py_ssize_t ds,
                  Py_ssize_t n) nogil
    void wg_at4_d(const double* s, Py_ssize_t ss, double* d, Py_ssize_t ds,
                  Py_ssize_t n) nogil
    void wg_at2_d(const double* s, Py_ssize_t ss, double* d, Py_ssize_t ds,
                  Py_ssize_t n) nogil


cdef inline void _bt(int m, const real* s, Py_ssize_t ss, real* d, Py_ssize_t ds,
                     Py_ssize_t T) noexcept nogil:
    """Input transform B^T (alpha = m + 2 inputs -> alpha outputs), T tiles."""
    if real is float:
        if m == 4:
            wg_bt4_f(s, ss, d, ds, T)
        else:
            wg_bt2_f(s, ss, d, ds, T)
    else:
        if m == 4:
            wg_bt4_d(s, ss, d, ds, T)
        else:
            wg_bt2_d(s, ss, d, ds, T)


cdef inline void _rowbt(int m, const real* r, real* o, Py_ssize_t os,
                        Py_ssize_t n) noexcept nogil:
    """B^T along one input row for n consecutive tiles (see ``wg_rowbt``)."""
    if real is float:
        wg_rowbt_f(m, r, o, os, n)
    else:
        wg_rowbt_d(m, r, o, os, n)


cdef inline void _rowat(int m, const real* s, Py_ssize_t ss, real* y, real bias,
                        Py_ssize_t n) noexcept nogil:
    """A^T along one output row for n consecutive full tiles (``wg_rowat``)."""
    if real is float:
        wg_rowat_f(m, s, ss, y, bias, n)
    else:
        wg_rowat_d(m, s, ss, y, bias, n)


cdef inline void _at(int m, const real* s, Py_ssize_t ss, real* d, Py_ssize_t ds,
                     Py_ssize_t T) noexcept nogil:
    """Output transform A^T (alpha inputs -> m outputs), T tiles."""
    if real is float:
        if m == 4:
            wg_at4_f(s, ss, d, ds, T)
        else:
            wg_at2_f(s, ss, d, ds, T)
    else:
        if m == 4:
            wg_at4_d(s, ss, d, ds, T)
        else:
            wg_at2_d(s, ss, d, ds, T)
