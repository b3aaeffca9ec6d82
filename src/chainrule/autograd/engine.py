"""Reverse-mode differentiation: order the graph, then one reverse sweep of the chain rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chainrule import backend
from chainrule.autograd import anomaly, hooks
from chainrule.backend import Array
from chainrule.errors import ArgumentTypeError, GraphError, ShapeError

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor


_Tensor: Any = None


def _tensor_class() -> type[Tensor]:
    """chainrule's Tensor class, looked up once: tensor.py imports this module, so this
    one cannot import it at the top, and an import inside backward() costs ~1 us a call
    (a tenth of a tiny op's forward and backward)."""
    global _Tensor
    if _Tensor is None:
        from chainrule.autograd.tensor import Tensor

        _Tensor = Tensor
    return _Tensor


def topological_order(root: Tensor, stop: set[int] | None = None) -> list[Tensor]:
    """Every tensor ``root`` depends on through recorded ops, inputs before outputs.

    Depth-first with an explicit stack: deep graphs (long RNN-like chains) must not hit
    Python's recursion limit. Inputs are visited in argument order, so the order is
    deterministic. Tensors whose id is in ``stop`` are listed but not expanded (the
    create_graph sweep wants their gradient, not what lies behind them).
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
        if ctx is not None and (stop is None or id(tensor) not in stop):
            for parent in reversed(ctx.inputs):
                if parent._ctx is not None and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def sum_to_shape(grad: Array, shape: tuple[int, ...]) -> Array:
    """Undo broadcasting: sum ``grad`` over the axes along which ``shape`` was widened.
    An array or, in the create_graph sweep, a Tensor (same ``sum`` and ``reshape``)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    grad = grad.sum(axis=axes, keepdims=True) if axes else grad
    return grad.reshape(shape)


def backward(
    root: Tensor,
    grad: Array,
    retain_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> list[Array | None] | None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``grad`` is d(loss)/d(root), an array of root's shape. Unless ``retain_graph``, each
    node's saved buffers and input links are dropped once used, so memory is returned
    as soon as backward ends. With ``inputs``, no ``.grad`` is touched: the arrays
    d(root)/d(input) are returned instead (None where an input is not reached).
    """
    tensor_type = _tensor_class()

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
    wrap = tensor_type._wrap
    # Hooks, retain_grad() and grad() take a second path, decided once here: a plain
    # backward pays one test of a local per node for them, nothing more.
    special = bool(hooks._table) or inputs is not None
    captured = {id(t): None for t in inputs} if inputs is not None else None
    leaf_grads: dict[int, tuple[Tensor, Any]] = {}
    for tensor in reversed(topological_order(root)):
        grad_out = grads.pop(id(tensor), None)
        ctx = tensor._ctx
        if grad_out is None or ctx is None:
            continue
        if special:
            grad_out = hooks.run(tensor, grad_out, captured is None)
            if captured is not None and id(tensor) in captured:
                captured[id(tensor)] = grad_out
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
                if special:  # summed first: a leaf's hooks see its whole gradient once
                    previous_leaf = leaf_grads.get(id(parent))
                    leaf_grads[id(parent)] = (
                        parent,
                        g if previous_leaf is None else previous_leaf[1] + g,
                    )
                else:
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
    if not special:
        return None
    for leaf, g in leaf_grads.values():
        g = hooks.run(leaf, g, captured is None)
        if captured is not None:
            if id(leaf) in captured:
                captured[id(leaf)] = g
        elif leaf.grad is None:
            leaf.grad = tensor_type._wrap(g, False)
        else:
            leaf.grad = tensor_type._wrap(leaf.grad.data + g, False)
    return None if inputs is None else [captured[id(t)] for t in inputs]


class _Released(tuple):
    """Marks a node whose buffers backward already freed."""


_RELEASED: Any = _Released()


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | Array | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """d(sum of outputs)/d(input) for each input, leaves or intermediate values, as PyTorch's
    ``torch.autograd.grad``: no ``.grad`` is changed.

    ``grad_outputs``: d(loss)/d(output) per output (required for non-scalar outputs).
    ``create_graph``: the gradients are computed with differentiable ops, so they are in a
    graph themselves (and depend on ``grad_outputs`` where those require grad): they can be
    differentiated again (Hessian-vector products, gradient penalties). ``retain_graph``
    (default: ``create_graph``) keeps the graph for another backward. An input the outputs
    do not depend on raises unless ``allow_unused``, which gives None for it.
    """
    from chainrule.autograd.tensor import Tensor  # cycle: tensor.py imports this module

    outputs = _as_tensors(outputs, "outputs")
    inputs = _as_tensors(inputs, "inputs")
    if retain_graph is None:
        retain_graph = create_graph
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise GraphError(
            f"grad(): {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; expected one each"
        )
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise GraphError(
                f"grad(): inputs[{i}] does not require grad, so no gradient flows to it; "
                "expected tensors with requires_grad=True or computed from them"
            )
    totals: list[Any] = [None] * len(inputs)
    for k, (output, grad_output) in enumerate(zip(outputs, grad_outputs)):
        if not output.requires_grad:
            raise GraphError(
                f"grad(): outputs[{k}] does not require grad: it does not depend on a tensor "
                "with requires_grad=True (or it was computed under no_grad())"
            )
        seed = _seed(output, grad_output, k)
        if create_graph:
            seed = _seed_tensor(seed, grad_output)
        if output._ctx is None:  # an output that is itself a leaf
            found = [seed if t is output else None for t in inputs]
        elif create_graph:
            keep = retain_graph or k < len(outputs) - 1
            found = backward_graph(output, seed, keep, inputs)
        else:
            keep = bool(retain_graph) or k < len(outputs) - 1
            found = backward(output, seed, keep, inputs)
        totals = [f if t is None else t if f is None else t + f for t, f in zip(totals, found)]
    for i, total in enumerate(totals):
        if total is None and not allow_unused:
            raise GraphError(
                f"grad(): the outputs do not depend on inputs[{i}]; pass allow_unused=True "
                "to get None for it"
            )
    if create_graph:
        return tuple(totals)
    return tuple(None if g is None else Tensor._wrap(g, False) for g in totals)


def _seed_tensor(seed: Any, grad_output: Any) -> Tensor:
    """The seed of a create_graph sweep as a Tensor: ``grad_output`` itself when it is a
    Tensor of the right dtype (so the gradients stay in its graph), else a constant."""
    from chainrule.autograd.tensor import Tensor

    if isinstance(grad_output, Tensor) and grad_output.dtype == seed.dtype:
        return grad_output
    return Tensor._wrap(seed, False)


# ------------------------------------------------------------ create_graph=True


def backward_graph(
    root: Tensor,
    grad: Tensor,
    retain_graph: bool = True,
    inputs: Sequence[Tensor] | None = None,
    local: bool = False,
) -> list[Tensor | None] | None:
    """``backward`` with ``create_graph=True``: each node's ``backward_graph`` computes its
    input gradients with differentiable ops, so the gradients are Tensors in a graph.

    Without ``inputs`` the leaves' ``.grad`` get them (added to what is there, in the
    graph); with ``inputs`` they are returned instead. ``local``: the walk stops at
    ``inputs`` (partial derivatives, treating them as independent; used by ops whose
    double backward re-runs their forward as a composition of ops).
    """
    from chainrule.autograd import grad_mode

    if root._ctx is not None and root._ctx.saved is _RELEASED:
        raise GraphError(
            "backward() through a graph a second time: its buffers were freed after the "
            "first backward; pass retain_graph=True to the first call to keep them"
        )
    stop = {id(t) for t in inputs} if local and inputs is not None else None
    captured = {id(t): None for t in inputs} if inputs is not None else None
    grads: dict[int, Tensor] = {id(root): grad}
    leaf_grads: dict[int, tuple[Tensor, Tensor]] = {}
    with grad_mode.enable_grad():
        for tensor in reversed(topological_order(root, stop)):
            grad_out = grads.pop(id(tensor), None)
            ctx = tensor._ctx
            if grad_out is None or ctx is None:
                continue
            grad_out = hooks.run_graph(tensor, grad_out, captured is None)
            if captured is not None and id(tensor) in captured:
                captured[id(tensor)] = grad_out
                if stop is not None:
                    continue
            if ctx.saved is _RELEASED:
                raise GraphError(
                    f"backward() reached {ctx.name}, whose buffers were freed by an earlier "
                    "backward; pass retain_graph=True to keep a graph for a second backward"
                )
            input_grads = ctx.backward_graph(ctx, grad_out)
            for parent, needs, g in zip(ctx.inputs, ctx.needs_input_grad, input_grads):
                if not needs or g is None:
                    continue
                if g.shape != parent.shape:
                    g = sum_to_shape(g, parent.shape)
                if g.dtype != parent.dtype:
                    g = g.astype(parent.dtype)
                key = id(parent)
                if parent._ctx is None:
                    previous_leaf = leaf_grads.get(key)
                    leaf_grads[key] = (parent, g if previous_leaf is None else previous_leaf[1] + g)
                else:
                    previous = grads.get(key)
                    grads[key] = g if previous is None else previous + g
            if not retain_graph:
                ctx.__dict__.clear()
                ctx.saved = _RELEASED
                ctx.inputs = ()
                ctx.needs_input_grad = ()
        for leaf, g in leaf_grads.values():
            g = hooks.run_graph(leaf, g, captured is None)
            if captured is not None:
                if id(leaf) in captured:
                    captured[id(leaf)] = g
            elif leaf.grad is None:
                leaf.grad = g
            else:
                leaf.grad = leaf.grad + g
    return None if inputs is None else [captured[id(t)] for t in inputs]


def _as_tensors(value: Any, what: str) -> list[Tensor]:
    from chainrule.autograd.tensor import Tensor  # cycle: tensor.py imports this module

    items = [value] if isinstance(value, Tensor) else list(value)
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise ArgumentTypeError(
            f"grad(): {what} must be a Tensor or a non-empty sequence of Tensors; got {value!r}"
        )
    return items


def _seed(output: Tensor, grad_output: Any, k: int) -> Any:
    """d(loss)/d(output) as an array of the output's shape and dtype."""
    xp = backend.get_array_module(output.data)
    if grad_output is None:
        if output.data.size != 1:
            raise ShapeError(
                f"grad(): outputs[{k}] has shape {output.shape}; a non-scalar output needs "
                "grad_outputs (d(loss)/d(output), same shape)"
            )
        return xp.ones(output.shape, dtype=output.dtype)
    data = grad_output.data if isinstance(grad_output, type(output)) else grad_output
    seed = xp.asarray(data, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ShapeError(
            f"grad(): grad_outputs[{k}] has shape {seed.shape}; expected outputs[{k}]'s "
            f"shape {output.shape}"
        )
    return seed
