# Fused floating types shared by every Cython kernel (float32 / float64).
ctypedef fused real:
    float
    double
