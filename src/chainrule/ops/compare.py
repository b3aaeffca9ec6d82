"""Comparisons and logic: boolean tensors, with no gradient."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import get_array_module
from chainrule.errors import ShapeError
from chainrule.ops._operands import as_tensor, binary, normalize_axis


def _compare(a: Any, b: Any, op: str) -> Tensor:
    a, b = binary(a, b)
    try:
        return Tensor._wrap(getattr(a.data, op)(b.data), False)
    except ValueError as error:
        raise ShapeError(
            f"{op.strip('_')}: cannot compare tensors of shapes {a.shape} and {b.shape}: {error}"
        ) from error


def eq(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__eq__")


def ne(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__ne__")


def lt(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__lt__")


def le(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__le__")


def gt(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__gt__")


def ge(a: TensorLike, b: TensorLike) -> Tensor:
    return _compare(a, b, "__ge__")


def any(x: TensorLike, axis: int | None = None) -> Tensor:
    x = as_tensor(x)
    return Tensor._wrap(x.data.any(axis=normalize_axis(axis, x.ndim, "any")), False)


def all(x: TensorLike, axis: int | None = None) -> Tensor:
    x = as_tensor(x)
    return Tensor._wrap(x.data.all(axis=normalize_axis(axis, x.ndim, "all")), False)


def isfinite(x: TensorLike) -> Tensor:
    data = as_tensor(x).data
    return Tensor._wrap(get_array_module(data).isfinite(data), False)
