"""The few kernels whose code differs between NumPy and CuPy."""

from __future__ import annotations

import threading
from typing import Any

import numpy

from chainrule.backend import jit
from chainrule.backend.arrays import Array, get_array_module

_local = threading.local()


def index_add(target: Array, index: Any, values: Array) -> None:
    """target[index] += values, adding repeatedly where an index repeats (in place)."""
    xp = get_array_module(target)
    if xp is numpy:
        numpy.add.at(target, index, values)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(target, index, values)


def as_strided(x: Array, shape: tuple[int, ...], strides: tuple[int, ...]) -> Array:
    """A read-only view of x's memory with the given shape and strides (in bytes)."""
    xp = get_array_module(x)
    if xp is numpy:
        return numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    from cupy.lib.stride_tricks import as_strided as cupy_as_strided  # pragma: no cover

    return cupy_as_strided(x, shape, strides)  # pragma: no cover


def workspace(shape: tuple[int, ...], dtype: Any, like: Array) -> Array:
    """A reusable array of ``shape`` on ``like``'s device (contents undefined).

    One flat buffer per thread, dtype and device, grown to the largest request and
    shared by every caller: it holds an op's transient columns (im2col, a GEMM's result)
    *within one call*, never across calls. Reusing it spares the page faults of a fresh
    multi-megabyte array every step (they can cost more than the arithmetic).
    """
    xp = get_array_module(like)
    buffers = getattr(_local, "workspaces", None)
    if buffers is None:
        buffers = _local.workspaces = {}
    key = (xp.__name__, numpy.dtype(dtype).str)
    size = 1
    for n in shape:
        size *= n
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = None  # free the old one first
        buf = buffers[key] = xp.empty(size, dtype)
    return buf[:size].reshape(shape)


def clear_workspaces() -> None:
    """Free this thread's workspace buffers (they are re-made on the next use)."""
    _local.workspaces = {}


def im2col(
    x: Array, kernel: tuple[int, int], stride: tuple[int, int], out: Array | None = None
) -> Array:
    """Every kernel-sized window of x (C, H, W, N) as one column: (C*kh*kw, H'*W'*N).

    Row (c, i, j), column (h', w', n) holds x[c, h'*sh + i, w'*sw + j, n]. One copy out
    of a strided view; with the batch axis last, its inner runs are whole image rows of
    the batch (W'*N numbers when the stride is 1), so it streams. ``out``: a
    C-contiguous array of the result's shape to write into (e.g. a ``workspace``).
    """
    c, h, w, n = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    xp = get_array_module(x)
    if out is None:
        out = xp.empty((c * kh * kw, ho * wo * n), dtype=x.dtype)
    # NOTE: a plain copy: NumPy's strided copy was as fast as a compiled loop here.
    s_c, s_h, s_w, s_n = x.strides
    windows = as_strided(x, (c, kh, kw, ho, wo, n), (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n))
    out.reshape(c, kh, kw, ho, wo, n)[...] = windows
    return out


def col2im(
    cols: Array,
    shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> Array:
    """The adjoint of ``im2col``: sum columns (C*kh*kw, H'*W'*N) back into (C, H, W, N).

    One strided add per kernel offset (kh*kw of them); overlapping windows add up.
    (Compiled: one pass over the result, each entry summing the columns that hold it.)
    """
    xp = get_array_module(cols)
    c, h, w, n = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = cols.reshape(c, kh, kw, ho, wo, n)
    if jit.usable(cols) and cols.size >= jit.PARALLEL_MIN:
        x = xp.empty(shape, dtype=cols.dtype)
        _numba().col2im(windows, sh, sw, x)
        return x
    x = xp.zeros(shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            x[:, i : i + sh * ho : sh, j : j + sw * wo : sw] += windows[:, i, j]
    return x


def _numba() -> Any:
    from chainrule.backend import _numba_kernels

    return _numba_kernels
