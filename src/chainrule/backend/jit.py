"""The optional JIT (numba): whether fused CPU kernels may be used, and switching them off.

numba is an optional extra (``pip install chainrule[fast]``). When it is installed,
the hot-path kernels in ``backend.fused`` and ``backend.kernels`` run as compiled
single-pass loops over NumPy arrays; otherwise (or with ``CHAINRULE_JIT=0`` in the
environment, or after ``set_jit(False)``) they run as plain NumPy, which is the
reference the compiled ones are tested against. CuPy arrays always take the array path.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy

from chainrule.backend.arrays import Array
from chainrule.errors import ArgumentError

# NOTE: numba is imported on the first compiled call, not here: importing it costs
# about a third of a second and pulls in SciPy, which `import chainrule` must not.
_installed = importlib.util.find_spec("numba") is not None
_enabled = _installed and os.environ.get("CHAINRULE_JIT", "1") not in ("0", "false")

# Below this many elements NumPy's few calls cost less than a compiled call's dispatch.
PARALLEL_MIN = 1 << 15


def installed() -> bool:
    """Whether numba (the optional extra ``fast``) is installed."""
    return _installed


def available() -> bool:
    """Whether the compiled kernels are installed and switched on."""
    return _enabled


def set_jit(enabled: bool) -> None:
    """Switch the compiled kernels on or off (off: the plain NumPy path everywhere)."""
    global _enabled
    if enabled and not _installed:
        raise ArgumentError("set_jit(True) needs numba: pip install 'chainrule[fast]'")
    _enabled = bool(enabled)


@contextmanager
def jit_disabled() -> Iterator[None]:
    """``with jit_disabled():`` runs the plain NumPy path (e.g. to compare the two)."""
    global _enabled
    saved = _enabled
    _enabled = False
    try:
        yield
    finally:
        _enabled = saved


def usable(*arrays: Array, contiguous: bool = True) -> bool:
    """Whether a compiled kernel may take these arrays: JIT on, all host NumPy arrays of
    one float dtype (float32 or float64), C-contiguous unless ``contiguous=False``."""
    if not _enabled:
        return False
    dtype = arrays[0].dtype
    return all(
        type(a) is numpy.ndarray and (a.flags.c_contiguous or not contiguous) and a.dtype == dtype
        for a in arrays
    ) and dtype in (numpy.float32, numpy.float64)


def njit(parallel: bool = False) -> Any:
    """numba.njit with the project's settings: cached on disk, no fast-math (the compiled
    kernels round exactly as the NumPy ones do, operation by operation), and NumPy's
    error model: x / 0 is inf or NaN, not an exception. Python's model tests every
    division for zero, which keeps LLVM from vectorising the loop (Adam ran 4.7x slower)."""
    import numba  # optional: numba

    return numba.njit(
        cache=True, parallel=parallel, fastmath=False, nogil=True, error_model="numpy"
    )


_kernels: Any = None


def compiled() -> Any:
    """The module of compiled kernels (``_numba_kernels``), imported on first use: numba
    then compiles them or loads them from its on-disk cache. Kept after that, since an
    import statement costs about a microsecond even for a loaded module."""
    global _kernels
    if _kernels is None:
        from chainrule.backend import _numba_kernels  # optional: numba

        _kernels = _numba_kernels
    return _kernels


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel for float32 and float64
    now, rather than inside the first training step that needs it."""
    if not _enabled:
        return
    k = compiled()

    for dtype in (numpy.float32, numpy.float64):
        one = dtype(1)
        v = numpy.ones(4, dtype)
        k.adam(
            v.copy(), v, v.copy(), v.copy(), v[:0].copy(), one, one, one, one, one, one, one, one
        )
        k.adadelta(v.copy(), v, v.copy(), v.copy(), one, one, one, one, one)
        k.sgd(v.copy(), v, v.copy(), one, one, one, one, True, False)
        k.relu_backward(v, v, v.copy())
        k.transpose(v.reshape(2, 2), v.reshape(2, 2).copy())
        k.dropout(v.astype(numpy.uint32), numpy.uint32(7), one, v, v.copy(), v.copy())
        x = numpy.ones((1, 2, 2, 8), dtype)
        y = numpy.empty((1, 1, 1, 8), dtype)
        argmax = numpy.empty(y.shape, numpy.int16)
        k.max_pool(x, 2, 2, 2, 2, 0, 0, y, argmax)
        k.max_pool_2x2(x, y, argmax)
        k.max_pool_backward(y, argmax, 2, 2, 2, 2, 0, 0, x.copy())
        k.col2im(numpy.ones((1, 1, 1, 2, 2, 8), dtype), 1, 1, x.copy())
        k.col2im_scatter(numpy.ones((1, 1, 1, 2, 2, 8), dtype), 1, 1, x.copy())
