"""Checking analytic gradients against central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.errors import ArgumentError, GradcheckError


@dataclass(frozen=True)
class GradcheckResult:
    """The worst disagreement found: where, how large, and whether it is within tolerance."""

    ok: bool
    max_abs_error: float
    max_rel_error: float
    input_index: int
    element: tuple[int, ...]
    analytic: float
    numeric: float

    def __str__(self) -> str:
        return (
            f"worst element: input {self.input_index} at {self.element}: analytic "
            f"{self.analytic:.10g}, numeric {self.numeric:.10g} (abs error "
            f"{self.max_abs_error:.3g}, rel error {self.max_rel_error:.3g})"
        )


def _checked_inputs(inputs: Sequence[Any], where: str) -> tuple[list[Tensor], list[int]]:
    """float64 copies of ``inputs`` and the indices to check: those that require grad,
    else every floating one (made to require grad)."""
    tensors = [_float64_copy(x) for x in inputs]
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not checked:
        checked = [i for i, t in enumerate(tensors) if t.dtype.kind == "f"]
        for i in checked:
            tensors[i].requires_grad = True
    if not checked:
        raise ArgumentError(f"{where}: no floating-point input to differentiate")
    return tensors, checked


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[TensorLike],
    *,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Compare the gradients backward computes for ``fn(*inputs)`` with finite differences.

    Inputs are copied to float64. Those that require grad are checked (every floating
    input if none does). The output is contracted with a random upstream gradient, so
    each output element is weighed differently. An element passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``.
    """
    tensors, checked = _checked_inputs(inputs, "gradcheck")

    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise ArgumentError(f"gradcheck: fn must return a Tensor; got {type(out).__name__}")
    xp = backend.get_array_module(out.data)
    weight = xp.asarray(backend.new_generator(seed).standard_normal(out.shape))
    out.backward(weight)

    def objective() -> float:
        with no_grad():
            return float((fn(*tensors).data * weight).sum())

    worst = GradcheckResult(True, 0.0, 0.0, -1, (), 0.0, 0.0)
    worst_excess = -float("inf")
    for i in checked:
        data = tensors[i].data
        analytic = xp.zeros(data.shape) if tensors[i].grad is None else tensors[i].grad.data
        flat = data.reshape(-1)  # a view: writing to it perturbs the input in place
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = objective()
            flat[j] = original - eps
            minus = objective()
            flat[j] = original
            numeric = (plus - minus) / (2 * eps)
            exact = float(analytic.reshape(-1)[j])
            error = abs(exact - numeric)
            excess = error - (atol + rtol * abs(numeric))
            if excess > worst_excess:
                worst_excess = excess
                element = (
                    tuple(int(k) for k in xp.unravel_index(j, data.shape)) if data.ndim else ()
                )
                worst = GradcheckResult(
                    ok=excess <= 0,
                    max_abs_error=error,
                    max_rel_error=error / max(abs(numeric), 1e-12),
                    input_index=i,
                    element=element,
                    analytic=exact,
                    numeric=numeric,
                )
    if not worst.ok and raise_exception:
        raise GradcheckError(f"gradients disagree with finite differences; {worst}")
    return worst


def _float64_copy(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        data = x.data
        copy = Tensor._wrap(
            data.astype("float64") if data.dtype.kind == "f" else data.copy(), False
        )
        if data.dtype.kind == "f":
            copy.requires_grad = x.requires_grad
        return copy
    array = backend.asarray(x)
    if array.dtype.kind == "f":
        return Tensor(array, dtype=backend.float64)
    return Tensor(array)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[TensorLike],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Compare second derivatives with finite differences of the first, in float64.

    With v a random upstream gradient of ``fn(*inputs)``, the first derivatives
    g_i = d<v, fn>/d input_i are computed with ``create_graph=True``, contracted with a
    second random weight u, and differentiated again, with respect to the inputs and to
    v: the result is checked against central differences of <u, g> (each g from a plain
    first-order backward). ``input_index`` in the result counts v as the last input.
    """
    from chainrule.autograd.engine import grad

    tensors, checked = _checked_inputs(inputs, "gradgradcheck")
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise ArgumentError(f"gradgradcheck: fn must return a Tensor; got {type(out).__name__}")
    xp = backend.get_array_module(out.data)
    generator = backend.new_generator(seed)
    v = Tensor(xp.asarray(generator.standard_normal(out.shape)), dtype=backend.float64)
    v.requires_grad = True
    weights = [
        xp.asarray(generator.standard_normal(tensors[i].shape)).astype("float64") for i in checked
    ]
    wrt = [tensors[i] for i in checked]

    def contracted(create_graph: bool) -> Tensor | float:
        firsts = grad(fn(*tensors), wrt, v, create_graph=create_graph, allow_unused=True)
        if not create_graph:
            return float(
                sum(float((g.data * w).sum()) for g, w in zip(firsts, weights) if g is not None)
            )
        total = None
        for g, w in zip(firsts, weights):
            if g is not None:
                term = (g * w).sum()
                total = term if total is None else total + term
        return total

    total = contracted(True)
    everything = [*wrt, v]
    if total is None or not total.requires_grad:
        analytic = [xp.zeros(t.shape) for t in everything]
    else:
        found = grad(total, everything, allow_unused=True)
        analytic = [xp.zeros(t.shape) if g is None else g.data for g, t in zip(found, everything)]

    worst = GradcheckResult(True, 0.0, 0.0, -1, (), 0.0, 0.0)
    worst_excess = -float("inf")
    labels = [*checked, len(tensors)]
    for k, t in enumerate(everything):
        flat = t.data.reshape(-1)  # a view: writing to it perturbs the input in place
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = contracted(False)
            flat[j] = original - eps
            minus = contracted(False)
            flat[j] = original
            numeric = (plus - minus) / (2 * eps)
            exact = float(analytic[k].reshape(-1)[j])
            error = abs(exact - numeric)
            excess = error - (atol + rtol * abs(numeric))
            if excess > worst_excess:
                worst_excess = excess
                element = tuple(int(i) for i in xp.unravel_index(j, t.shape)) if t.ndim else ()
                worst = GradcheckResult(
                    ok=excess <= 0,
                    max_abs_error=error,
                    max_rel_error=error / max(abs(numeric), 1e-12),
                    input_index=labels[k],
                    element=element,
                    analytic=exact,
                    numeric=numeric,
                )
    if not worst.ok and raise_exception:
        raise GradcheckError(f"second derivatives disagree with finite differences; {worst}")
    return worst
