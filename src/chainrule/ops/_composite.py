"""``local_grads``: a differentiable backward for an op re-expressed by other ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import backward_graph
from chainrule.autograd.tensor import Tensor
from chainrule.ops.shape import Reshape


def local_grads(
    ctx: Any, grad_out: Tensor, composite: Callable[..., Tensor]
) -> tuple[Tensor | None, ...]:
    """A ``backward_graph`` for an op that ``composite(*inputs)`` re-expresses with
    differentiable ops: the gradients of that composition at ``ctx.inputs``, as a graph.

    Each input that needs a gradient is seen through an alias (an identity node), so the
    walk stops there and an input given twice gets one partial derivative per slot.
    """
    aliases = [
        Reshape.apply(t, shape=t.shape) if need else t
        for t, need in zip(ctx.inputs, ctx.needs_input_grad)
    ]
    out = composite(*aliases)
    wanted = [a for a, need in zip(aliases, ctx.needs_input_grad) if need]
    grads = backward_graph(out, grad_out, True, wanted, local=True)
    assert grads is not None  # given inputs, backward_graph returns their gradients
    found = iter(grads)
    return tuple(next(found) if need else None for need in ctx.needs_input_grad)
