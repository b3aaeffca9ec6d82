"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class Adagrad(Optimizer):
    """r <- r + g * g; theta <- theta - lr g / (sqrt(r) + eps)  (Duchi et al., 2011).

    r starts at ``initial_accumulator_value``; ``weight_decay`` adds weight_decay * theta to g.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
        )
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p.data, group["initial_accumulator_value"])
        g = grad + wd * p.data if wd else grad  # a new array: grad is never modified
        state["step"] += 1
        r = state["sum"]
        r += g * g  # r <- r + g ⊙ g
        p.data -= lr * g / (xp.sqrt(r) + eps)  # theta <- theta - eps / (delta + sqrt(r)) ⊙ g
