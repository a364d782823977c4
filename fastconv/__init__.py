"""fastconv: fast CPU convolution and pooling for NumPy arrays.

Public names only.  Importing fastconv loads NumPy and fastconv's own pure-Python
modules; Numba, SciPy's signal/FFT modules and the compiled kernels are loaded on
first use, so ``import fastconv`` compiles nothing.
"""

from . import threads
from ._autotune import autotune
from .activations import (
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    tanh,
    tanh_backward,
)
from .backward import (
    ConvGrads,
    conv1d_backward,
    conv2d_backward,
    conv3d_backward,
    conv_transpose1d,
    conv_transpose1d_backward,
    conv_transpose2d,
    conv_transpose2d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
)
from .conv import PreparedWeight, conv1d, conv2d, conv3d, conv_separable, prepare_weight
from .local import (
    local_conv1d,
    local_conv1d_backward,
    local_conv2d,
    local_conv2d_backward,
    tiled_conv2d,
    tiled_conv2d_backward,
)
from .matrix import conv_matrix
from .plan import Plan, plan_conv
from .pool import *  # noqa: F401,F403  (pooling, every name in fastconv.pool.__all__)
from .pool import PoolPlan, plan_pool
from .pool import __all__ as _pool_all
from .shapes import (
    ReceptiveField,
    conv_output_shape,
    conv_transpose_output_shape,
    pool_output_shape,
    receptive_field,
)
from .signal import (
    SignalPlan,
    choose_method,
    convolve,
    correlate,
    filter_nd,
    plan_signal,
    separable_factors,
)
from .threads import get_num_threads, num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "conv1d_backward", "conv2d_backward", "conv3d_backward", "ConvGrads",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "conv1d", "conv2d", "conv3d", "conv_separable", "prepare_weight", "PreparedWeight",
    "plan_conv", "Plan", "autotune", "plan_pool", "PoolPlan",
    "set_num_threads", "get_num_threads", "num_threads", "threads",
    "convolve", "correlate", "filter_nd", "plan_signal", "choose_method", "SignalPlan",
    "separable_factors",
    "conv_output_shape", "pool_output_shape", "conv_transpose_output_shape",
    "receptive_field", "ReceptiveField",
    "local_conv1d", "local_conv2d", "tiled_conv2d", "local_conv1d_backward",
    "local_conv2d_backward", "tiled_conv2d_backward",
    "conv_matrix",
]
__all__ += _pool_all  # pooling


_LAZY_SUBMODULES = ("filters", "features")


def __getattr__(name):
    """``fastconv.filters`` / ``fastconv.features`` are imported on first use."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
