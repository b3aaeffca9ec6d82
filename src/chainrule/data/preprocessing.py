"""Preprocessing: scaling to [0, 1], standardisation with stored statistics, one-hot labels."""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from chainrule.checks import is_int
from chainrule.errors import ArgumentError, DTypeError


def scale_to_unit(x: npt.ArrayLike, input_range: tuple[float, float] = (0.0, 255.0)) -> np.ndarray:
    """Map values in ``input_range`` (default [0, 255], pixel values) linearly to [0, 1]; float32."""
    if (
        not isinstance(input_range, tuple | list)
        or len(input_range) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in input_range)
    ):
        raise ArgumentError(
            f"scale_to_unit: input_range must be a pair of numbers (low, high); got {input_range!r}"
        )
    low, high = (float(v) for v in input_range)
    if not high > low:
        raise ArgumentError(
            f"scale_to_unit: input_range must be (low, high) with high > low; got {input_range}"
        )
    x = np.asarray(x, dtype=np.float32)
    return (x - low) / (high - low)


def standardize(
    x: npt.ArrayLike,
    mean: npt.ArrayLike | None = None,
    std: npt.ArrayLike | None = None,
    axis: int | tuple[int, ...] | None = 0,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(x - mean) / std, and the (mean, std) used, to apply the same to test data.

    Statistics not given are computed over ``axis`` (default 0: per feature / pixel;
    None: one mean and std for everything). A zero std (a constant pixel) counts as 1.
    Floating input keeps its dtype; integer input becomes float32.
    """
    x = np.asarray(x)
    if axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes) or not all(
            -x.ndim <= a < x.ndim for a in axes
        ):
            raise ArgumentError(
                f"standardize: axis must be None, or ints in [-{x.ndim}, {x.ndim}) for data of "
                f"shape {x.shape}; got axis={axis!r}"
            )
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    if mean is None:
        mean = x.mean(axis=axis, keepdims=True, dtype=np.float64)
    if std is None:
        std = x.std(axis=axis, keepdims=True, dtype=np.float64)
    mean = np.asarray(mean, dtype=dtype)
    std = np.asarray(std, dtype=dtype)
    if np.any(std < 0):
        raise ArgumentError("standardize: std must be non-negative")
    std = np.where(std == 0, np.ones_like(std), std)
    return ((x - mean) / std).astype(dtype, copy=False), (mean, std)


def one_hot(labels: npt.ArrayLike, num_classes: int) -> np.ndarray:
    """Integer labels (...) -> float32 indicator vectors (..., num_classes)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: labels must be integers; got dtype {labels.dtype}")
    if not is_int(num_classes) or num_classes <= 0:
        raise ArgumentError(f"one_hot: num_classes must be a positive integer; got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ArgumentError(
            f"one_hot: labels must lie in [0, {num_classes}); got values from "
            f"{labels.min()} to {labels.max()}"
        )
    return np.eye(num_classes, dtype=np.float32)[labels]
