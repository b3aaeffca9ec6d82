"""Turning the arguments of an op into tensors of the right dtype."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a tensor. Next to a floating tensor ``like``, a number or array takes
    its dtype and device, so ``x * 2`` stays float32 and ``x64 * 2`` float64."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, str) or value is None:
        raise ArgumentTypeError(
            f"expected a Tensor, an array or a number; got {type(value).__name__}"
        )
    if like is None:
        return Tensor(value)
    dtype = like.data.dtype if like.data.dtype.kind == "f" else None
    return Tensor(value, dtype=dtype, device=backend.device_of(like.data))


def binary(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors, a non-tensor taking the other's dtype."""
    if isinstance(a, Tensor):
        return a, (b if isinstance(b, Tensor) else as_tensor(b, a))
    if isinstance(b, Tensor):
        return as_tensor(a, b), b
    return Tensor(a), Tensor(b)


def normalize_axis(axis: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...] | None:
    """``axis`` as a sorted tuple of non-negative axes (None for all), checked against ``ndim``."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    result = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool):
            raise ArgumentTypeError(
                f"{op}: axis must be an int or a sequence of ints; got {axis!r}"
            )
        if not -ndim <= a < max(ndim, 1):
            raise ArgumentError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions"
            )
        result.append(a % ndim if ndim else 0)
    return tuple(sorted(result))
