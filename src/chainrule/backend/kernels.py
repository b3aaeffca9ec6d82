"""The few kernels whose code differs between NumPy and CuPy."""

from __future__ import annotations

from typing import Any

import numpy

from chainrule.backend.arrays import Array, get_array_module


def index_add(target: Array, index: Any, values: Array) -> None:
    """target[index] += values, adding repeatedly where an index repeats (in place)."""
    xp = get_array_module(target)
    if xp is numpy:
        numpy.add.at(target, index, values)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(target, index, values)


def sliding_windows(x: Array, window: tuple[int, ...], axes: tuple[int, ...]) -> Array:
    """A read-only view of every ``window``-sized patch of ``x`` over ``axes``.

    The window axes are appended after x's axes (like numpy's sliding_window_view).
    """
    xp = get_array_module(x)
    if xp is numpy:
        return numpy.lib.stride_tricks.sliding_window_view(x, window, axis=axes)
    from cupy.lib.stride_tricks import as_strided  # pragma: no cover - needs a GPU

    shape = list(x.shape)  # pragma: no cover
    for a, w in zip(axes, window):  # pragma: no cover
        shape[a] -= w - 1
    strides = x.strides + tuple(x.strides[a] for a in axes)  # pragma: no cover
    return as_strided(x, tuple(shape) + tuple(window), strides)  # pragma: no cover


def as_strided(x: Array, shape: tuple[int, ...], strides: tuple[int, ...]) -> Array:
    """A read-only view of x's memory with the given shape and strides (in bytes)."""
    xp = get_array_module(x)
    if xp is numpy:
        return numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    from cupy.lib.stride_tricks import as_strided as cupy_as_strided  # pragma: no cover

    return cupy_as_strided(x, shape, strides)  # pragma: no cover


def im2col(x: Array, kernel: tuple[int, int], stride: tuple[int, int]) -> Array:
    """Every kernel-sized window of x (C, H, W, N) as one column: (C*kh*kw, H'*W'*N).

    Row (c, i, j), column (h', w', n) holds x[c, h'*sh + i, w'*sw + j, n]. One copy out
    of a strided view; with the batch axis last, its inner runs are whole image rows of
    the batch (W'*N numbers when the stride is 1), so it streams.
    """
    c, h, w, n = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    s_c, s_h, s_w, s_n = x.strides
    windows = as_strided(x, (c, kh, kw, ho, wo, n), (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n))
    # contiguous, so BLAS takes it; a copy unless the windows already are (1x1 kernels)
    return get_array_module(x).ascontiguousarray(windows).reshape(c * kh * kw, ho * wo * n)


def col2im(
    cols: Array,
    shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> Array:
    """The adjoint of ``im2col``: sum columns (C*kh*kw, H'*W'*N) back into (C, H, W, N).

    One strided add per kernel offset (kh*kw of them); overlapping windows add up.
    """
    xp = get_array_module(cols)
    c, h, w, n = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = cols.reshape(c, kh, kw, ho, wo, n)
    x = xp.zeros(shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            x[:, i : i + sh * ho : sh, j : j + sw * wo : sw] += windows[:, i, j]
    return x
