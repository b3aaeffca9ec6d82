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
