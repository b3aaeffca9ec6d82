"""Derivatives of whole functions, as ``torch.autograd.functional``: ``jacobian``,
``hessian``, ``hvp``.

``func`` takes the inputs (a Tensor, or a tuple of them) and returns a Tensor. Each
function differentiates fresh copies of the inputs (the caller's tensors and their
``.grad`` are left alone) and returns results cut from the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import grad
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentTypeError, ShapeError

Inputs = Tensor | Sequence[Tensor]

# The most input elements ``hessian`` builds a matrix for (one backward per element).
MAX_HESSIAN_ELEMENTS = 4096


def jacobian(func: Callable[..., Tensor], inputs: Inputs) -> Tensor | tuple[Tensor, ...]:
    """d func(inputs) / d inputs: for one input x, a Tensor of shape out.shape + x.shape
    (one backward per output element); for a tuple of inputs, a tuple of such Tensors."""
    xs, single = _copies(inputs, "jacobian")
    out = func(*xs)
    _check_output(out, "jacobian")
    xp = backend.get_array_module(out.data)
    rows: list[list[Any]] = [[] for _ in xs]
    for k in range(out.size):
        seed = xp.zeros(out.size, dtype=out.dtype)
        seed[k] = 1
        seed_tensor = Tensor._wrap(seed.reshape(out.shape), False)
        found = grad(out, xs, seed_tensor, retain_graph=True, allow_unused=True)
        for row, g, x in zip(rows, found, xs):
            row.append(xp.zeros(x.shape, dtype=x.dtype) if g is None else g.data)
    result = tuple(
        Tensor._wrap(xp.stack(row).reshape(out.shape + x.shape), False) for row, x in zip(rows, xs)
    )
    return result[0] if single else result


def hessian(
    func: Callable[..., Tensor], inputs: Inputs, max_elements: int = MAX_HESSIAN_ELEMENTS
) -> Tensor:
    """The matrix of second derivatives of a scalar ``func`` at one input x: shape
    x.shape + x.shape. Built row by row, one Hessian-vector product per element of x, so
    meant for small inputs: more than ``max_elements`` elements is refused."""
    if not isinstance(inputs, Tensor):
        raise ArgumentTypeError(f"hessian: inputs must be one Tensor; got {type(inputs).__name__}")
    if inputs.size > max_elements:
        raise ShapeError(
            f"hessian: the input has {inputs.size} elements, too large for a dense Hessian "
            f"({inputs.size}^2 entries, one backward each row; max_elements={max_elements}); "
            "use hvp for Hessian-vector products instead"
        )
    (x,), _ = _copies(inputs, "hessian")
    out = func(x)
    _check_output(out, "hessian", scalar=True)
    (g,) = grad(out, x, create_graph=True)
    xp = backend.get_array_module(g.data)
    flat = g.reshape(-1)
    rows = []
    for k in range(x.size):
        if not flat.requires_grad:
            rows.append(xp.zeros(x.size, dtype=x.dtype))
            continue
        (row,) = grad(flat[k], x, retain_graph=True, allow_unused=True)
        rows.append(xp.zeros(x.size, dtype=x.dtype) if row is None else row.data.reshape(-1))
    return Tensor._wrap(xp.stack(rows).reshape(x.shape + x.shape), False)


def hvp(
    func: Callable[..., Tensor], inputs: Inputs, v: Inputs
) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
    """(func(inputs), H v): the Hessian of a scalar ``func`` times ``v`` (shaped as the
    inputs), by differentiating <grad func, v> once more: two backward passes, no matrix."""
    xs, single = _copies(inputs, "hvp")
    vs = [v] if isinstance(v, Tensor) else list(v)
    if len(vs) != len(xs) or any(
        not isinstance(a, Tensor) or a.shape != x.shape for a, x in zip(vs, xs)
    ):
        raise ShapeError(
            f"hvp: v must match the inputs, one tensor each of shapes "
            f"{[tuple(x.shape) for x in xs]}; got {[getattr(a, 'shape', a) for a in vs]}"
        )
    out = func(*xs)
    _check_output(out, "hvp", scalar=True)
    grads = grad(out, xs, create_graph=True, allow_unused=True)
    total = None
    for g, direction in zip(grads, vs):
        if g is not None:
            term = (g * direction.detach()).sum()
            total = term if total is None else total + term
    xp = backend.get_array_module(out.data)
    if total is None or not total.requires_grad:
        products = [None] * len(xs)
    else:
        products = list(grad(total, xs, allow_unused=True))
    result = tuple(
        Tensor._wrap(xp.zeros(x.shape, dtype=x.dtype), False) if p is None else p
        for p, x in zip(products, xs)
    )
    return out.detach(), (result[0] if single else result)


def _copies(inputs: Inputs, op: str) -> tuple[list[Tensor], bool]:
    """Fresh leaves with the inputs' values that require grad; whether one was given."""
    single = isinstance(inputs, Tensor)
    items = [inputs] if single else list(inputs)
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise ArgumentTypeError(f"{op}: inputs must be a Tensor or a tuple of Tensors")
    copies = []
    for t in items:
        if t.dtype.kind != "f":
            raise ArgumentTypeError(f"{op}: inputs must be floating point; got dtype {t.dtype}")
        copy = Tensor._wrap(t.data.copy(), False)
        copy.requires_grad = True
        copies.append(copy)
    return copies, single


def _check_output(out: Any, op: str, scalar: bool = False) -> None:
    if not isinstance(out, Tensor):
        raise ArgumentTypeError(f"{op}: func must return a Tensor; got {type(out).__name__}")
    if scalar and out.size != 1:
        raise ShapeError(f"{op}: func must return a scalar; got shape {out.shape}")
    if not out.requires_grad:
        raise ShapeError(
            f"{op}: func's output does not depend on its inputs through differentiable ops "
            "(it does not require grad)"
        )
