"""Reverse-mode differentiation: order the graph, then one reverse sweep of the chain rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainrule.autograd import anomaly
from chainrule.errors import GraphError

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on through recorded ops, inputs before outputs.

    Depth-first with an explicit stack: deep graphs (long RNN-like chains) must not hit
    Python's recursion limit. Inputs are visited in argument order, so the order is
    deterministic.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        ctx = tensor._ctx
        if ctx is not None:
            for parent in reversed(ctx.inputs):
                if parent._ctx is not None and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def sum_to_shape(grad: Any, shape: tuple[int, ...]) -> Any:
    """Undo broadcasting: sum ``grad`` over the axes along which ``shape`` was widened."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    grad = grad.sum(axis=axes, keepdims=True) if axes else grad
    return grad.reshape(shape)


def backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``grad`` is d(loss)/d(root), an array of root's shape. Unless ``retain_graph``, each
    node's saved buffers and input links are dropped once used, so memory is returned
    as soon as backward ends.
    """
    from chainrule.autograd.tensor import Tensor

    if root._ctx is not None and root._ctx.saved is _RELEASED:
        raise GraphError(
            "backward() through a graph a second time: its buffers were freed after the "
            "first backward; pass retain_graph=True to the first call to keep them"
        )
    # NOTE: gradients are never modified in place anywhere in chainrule: a backward may
    # hand the same array to several inputs (add does), so sharing them is safe only
    # because everyone adds out of place.
    grads: dict[int, Any] = {id(root): grad}
    check = anomaly._enabled
    wrap = Tensor._wrap
    for tensor in reversed(topological_order(root)):
        grad_out = grads.pop(id(tensor), None)
        ctx = tensor._ctx
        if grad_out is None or ctx is None:
            continue
        if ctx.saved is _RELEASED:
            raise GraphError(
                f"backward() reached {ctx.name}, whose buffers were freed by an earlier "
                "backward; pass retain_graph=True to keep a graph for a second backward"
            )
        input_grads = ctx.backward(ctx, grad_out)
        if check:
            anomaly.check_backward(ctx, grad_out, input_grads)
        for parent, needs, g in zip(ctx.inputs, ctx.needs_input_grad, input_grads):
            if not needs or g is None:
                continue
            data = parent.data
            if g.shape != data.shape:
                g = sum_to_shape(g, data.shape)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if parent._ctx is None:
                previous = parent.grad
                parent.grad = wrap(g if previous is None else previous.data + g, False)
            else:
                key = id(parent)
                previous = grads.get(key)
                grads[key] = g if previous is None else previous + g
        if not retain_graph:
            ctx.__dict__.clear()
            ctx.saved = _RELEASED
            ctx.inputs = ()
            ctx.needs_input_grad = ()


class _Released(tuple):
    """Marks a node whose buffers backward already freed."""


_RELEASED: Any = _Released()
