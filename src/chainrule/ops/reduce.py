"""Reductions: sum and max are primitives; mean, min, var, std, logsumexp are built on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.errors import ArgumentError, ShapeError
from chainrule.ops._operands import as_tensor, normalize_axis, normalize_single_axis

Axis = int | Sequence[int] | None


def _expand_back(grad_y: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdims: bool):
    """grad_y, shaped as the reduction left it, broadcast back to the input's ``shape``."""
    xp = get_array_module(grad_y)
    if grad_y.size == 1 and len(shape) <= 1 and (not shape or shape[0] <= 4096):
        # NOTE: a small vector filled directly: broadcast_to's and full's Python wrappers cost more
        grad = xp.empty(shape, dtype=grad_y.dtype)
        grad[...] = grad_y.reshape(())
        return grad
    if not keepdims:
        kept = tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))
        grad_y = grad_y.reshape(kept)
    return xp.broadcast_to(grad_y, shape)


def _expand_back_graph(
    grad_y: Tensor, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdims: bool
) -> Tensor:
    """``_expand_back`` with differentiable ops."""
    if not keepdims:
        grad_y = grad_y.reshape(
            tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))
        )
    return grad_y.broadcast_to(shape)


class Sum(Function):
    """y = sum of x over ``axes``; every x gets the gradient of its sum."""

    @staticmethod
    def forward(ctx, x, axes=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return get_array_module(x).asarray(x.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad_y):
        return (_expand_back(grad_y, ctx.shape, ctx.axes, ctx.keepdims),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (_expand_back_graph(grad_y, ctx.shape, ctx.axes, ctx.keepdims),)


class Max(Function):
    """y = max of x over ``axes``; the gradient goes to the maxima, split evenly at ties."""

    @staticmethod
    def forward(ctx, x, axes=None, keepdims=False):
        y = x.max(axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else y.reshape(_drop_axes(y.shape, axes))

    @staticmethod
    def backward(ctx, grad_y):
        x, y = ctx.saved
        is_max = x == y
        count = is_max.sum(axis=ctx.axes, keepdims=True)
        grad_y = _expand_back(grad_y, y.shape, ctx.axes, ctx.keepdims)
        return (is_max * (grad_y / count),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x, y = ctx.saved
        is_max = x == y
        share = is_max / is_max.sum(axis=ctx.axes, keepdims=True)
        grad_y = _expand_back_graph(grad_y, y.shape, ctx.axes, ctx.keepdims)
        return (grad_y.broadcast_to(x.shape) * share,)


def _check_nonempty(x: Tensor, axes: tuple[int, ...] | None, op: str) -> None:
    sizes = x.shape if axes is None else [x.shape[a] for a in axes]
    if any(n == 0 for n in sizes):
        raise ShapeError(f"{op}: cannot reduce over an empty axis; got shape {x.shape}")


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    return Sum.apply(x, axes=normalize_axis(axis, x.ndim, "sum"), keepdims=keepdims)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "mean")
    _check_nonempty(x, axes, "mean")
    count = x.size if axes is None else _prod(x.shape[a] for a in axes)
    return Sum.apply(x, axes=axes, keepdims=keepdims) * (1.0 / count)


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Largest value over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "max")
    _check_nonempty(x, axes, "max")
    return Max.apply(x, axes=axes, keepdims=keepdims)


def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis``: -max(-x)."""
    return -max(-as_tensor(x), axis, keepdims)


def var(x: Tensor, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis``: mean of squared deviations, divided by (n - ddof)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "var")
    _check_nonempty(x, axes, "var")
    count = x.size if axes is None else _prod(x.shape[a] for a in axes)
    if count - ddof <= 0:
        raise ArgumentError(f"var: ddof={ddof} leaves no degrees of freedom for {count} values")
    deviation = x - mean(x, axes, keepdims=True)
    return sum(deviation * deviation, axes, keepdims) * (1.0 / (count - ddof))


def std(x: Tensor, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation: sqrt(var)."""
    return var(x, axis, keepdims, ddof).sqrt()


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, shifted by the max so nothing overflows."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "logsumexp")
    _check_nonempty(x, axes, "logsumexp")
    shift = Tensor._wrap(x.data.max(axis=axes, keepdims=True), False)
    total = sum((x - shift).exp(), axes, keepdims=True).log() + shift
    return total if keepdims else total.reshape(_drop_axes(total.shape, axes))


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest value along ``axis`` (of the flattened tensor when None)."""
    return _arg_extreme(x, axis, keepdims, "argmax")


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value along ``axis`` (of the flattened tensor when None)."""
    return _arg_extreme(x, axis, keepdims, "argmin")


def _arg_extreme(x: Tensor, axis: int | None, keepdims: bool, op: str) -> Tensor:
    x = as_tensor(x)
    if axis is not None:
        axis = normalize_single_axis(axis, x.ndim, op)
    _check_nonempty(x, None if axis is None else (axis,), op)
    data = x.data
    return Tensor._wrap(
        getattr(get_array_module(data), op)(data, axis=axis, keepdims=keepdims), False
    )


def _drop_axes(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


def _prod(values: Any) -> int:
    result = 1
    for v in values:
        result *= v
    return result
