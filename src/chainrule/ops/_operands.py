"""Turning the arguments of an op into tensors of the right dtype."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from chainrule import backend
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.checks import is_int
from chainrule.errors import ArgumentError, ArgumentTypeError


def as_tensor(value: TensorLike, like: Tensor | None = None, name: str = "input") -> Tensor:
    """``value`` as a tensor, through the one checked conversion (errors name ``name``).
    Next to a floating tensor ``like``, a number or array takes its dtype and device, so
    ``x * 2`` stays float32 and ``x64 * 2`` float64."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor._wrap(backend.asarray(value, name=name), False)
    dtype = like.data.dtype if like.data.dtype.kind == "f" else None
    device = backend.device_of(like.data)
    return Tensor._wrap(backend.asarray(value, dtype, device, name=name), False)


def binary(a: TensorLike, b: TensorLike) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors, a non-tensor taking the other's dtype."""
    if isinstance(a, Tensor):
        return a, (b if isinstance(b, Tensor) else as_tensor(b, a, name="other"))
    if isinstance(b, Tensor):
        return as_tensor(a, b), b
    return as_tensor(a), as_tensor(b, name="other")


def normalize_axis(axis: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...] | None:
    """``axis`` as a sorted tuple of distinct non-negative axes (None for all), checked
    against ``ndim``."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, tuple | list):
        raise ArgumentTypeError(f"{op}: axis must be an int or a sequence of ints; got {axis!r}")
    result = []
    for a in axes:
        if not is_int(a):
            raise ArgumentTypeError(
                f"{op}: axis must be an int or a sequence of ints; got {axis!r}"
            )
        if not -ndim <= a < ndim:
            raise ArgumentError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions"
            )
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ArgumentError(f"{op}: axis {axis!r} names an axis twice")
    return tuple(sorted(result))


def normalize_single_axis(axis: int, ndim: int, op: str) -> int:
    """``axis`` as one non-negative axis, checked against ``ndim``."""
    if not is_int(axis):
        raise ArgumentTypeError(f"{op}: axis must be an int; got axis={axis!r}")
    return normalize_axis(axis, ndim, op)[0]  # type: ignore[index]  # an int gives one axis
