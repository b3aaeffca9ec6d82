"""Rprop: a step size per weight, grown while the gradient keeps its sign, cut when it flips."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.checks import is_finite_number
from chainrule.errors import ArgumentError
from chainrule.optim.optimizer import Array, Optimizer, Params


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun, 1993), as PyTorch's ``Rprop``.

    Only the sign of the gradient is used. Per weight, with g' the previous gradient:
    where g g' > 0 the step size Delta <- min(Delta eta+, step_max); where g g' < 0,
    Delta <- max(Delta eta-, step_min) and g is taken as 0 for this step (no move, and
    no sign change seen next time); then theta <- theta - sign(g) Delta. Delta starts
    at lr. Meant for full-batch training: mini-batch noise flips signs at random.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
    ) -> None:
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes))

    def _checked(self, key: str, value: Any) -> Any:
        if key in ("etas", "step_sizes"):
            pair = (
                tuple(float(v) for v in value)
                if isinstance(value, tuple | list)
                and len(value) == 2
                and all(is_finite_number(v) for v in value)
                else None
            )
            if key == "etas" and (pair is None or not 0 < pair[0] < 1 < pair[1]):
                raise ArgumentError(
                    f"Rprop: etas must be (eta_minus, eta_plus) with 0 < eta_minus < 1 < "
                    f"eta_plus; got etas={value!r}"
                )
            if key == "step_sizes" and (pair is None or not 0 <= pair[0] <= pair[1]):
                raise ArgumentError(
                    f"Rprop: step_sizes must be (min, max) with 0 <= min <= max; got "
                    f"step_sizes={value!r}"
                )
            return pair
        return super()._checked(key, value)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        (eta_minus, eta_plus), (step_min, step_max) = group["etas"], group["step_sizes"]
        if not state:
            state["step"] = 0
            state["prev"] = xp.zeros_like(p.data)
            state["step_size"] = xp.full_like(p.data, group["lr"])
        state["step"] += 1
        sign = xp.sign(grad * state["prev"])
        factor = xp.where(sign > 0, eta_plus, xp.where(sign < 0, eta_minus, 1.0))
        step_size = state["step_size"]
        step_size *= factor.astype(p.dtype)
        xp.clip(step_size, step_min, step_max, out=step_size)
        g = xp.where(sign < 0, 0, grad).astype(p.dtype)  # a flipped sign: no move this time
        p.data -= xp.sign(g) * step_size
        state["prev"][...] = g
