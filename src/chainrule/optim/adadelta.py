"""Adadelta: steps in the units of the parameter, from running averages of g^2 and dx^2."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import fused, get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class Adadelta(Optimizer):
    """r <- rho r + (1 - rho) g^2; dx = sqrt(u + eps) / sqrt(r + eps) g;
    u <- rho u + (1 - rho) dx^2; theta <- theta - lr dx  (Zeiler, 2012).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            state["acc_delta"] = xp.zeros_like(p.data)
        state["step"] += 1
        fused.adadelta_(
            p.data,
            grad,
            state["square_avg"],
            state["acc_delta"],
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=wd,
        )
