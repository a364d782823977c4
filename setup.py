"""Build the Cython/OpenMP kernels.

Every ``fastconv/kernels/cython/*.pyx`` becomes an extension compiled with
``-O3 -fopenmp`` (compile *and* link: without the link flag ``prange`` silently
runs serial).  ``-march=native`` is added because fastconv is built on the
machine that runs it (``pip install .``); set ``FASTCONV_PORTABLE=1`` to build a
binary for other machines.  Developers rebuilding one kernel module in place can
set ``FASTCONV_ONLY=pool,grad`` (module names) with ``python setup.py build_ext
--inplace``; a normal install always builds all of them.
"""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = ["-O3", "-fopenmp", "-fno-math-errno"]
if os.environ.get("FASTCONV_PORTABLE", "0") != "1":
    compile_args.append("-march=native")

extensions = [
    Extension(
        "fastconv.kernels.cython." + os.path.splitext(os.path.basename(path))[0],
        [path],
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        depends=sorted(glob.glob("fastconv/kernels/cython/*.h")  # C micro-kernels
                       + glob.glob("fastconv/kernels/cython/*.pxd")),  # shared cimports
    )
    for path in sorted(glob.glob("fastconv/kernels/cython/*.pyx"))
]
only = [m for m in os.environ.get("FASTCONV_ONLY", "").split(",") if m]
if only:
    extensions = [e for e in extensions if e.name.rsplit(".", 1)[1] in only]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    )
)
