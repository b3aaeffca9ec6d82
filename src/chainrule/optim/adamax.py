"""Adamax: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class Adamax(Optimizer):
    """s <- rho1 s + (1 - rho1) g;  u <- max(rho2 u, |g| + eps);
    theta <- theta - lr / (1 - rho1^t) * s / u  (Kingma & Ba, 2015, section 7).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, (rho1, rho2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_inf"] = xp.zeros_like(p.data)
        g = grad + wd * p.data if wd else grad  # a new array: grad is never modified
        state["step"] += 1
        s, u = state["exp_avg"], state["exp_inf"]
        s *= rho1  # s <- rho1 s + (1 - rho1) g
        s += (1.0 - rho1) * g
        u *= rho2  # u <- max(rho2 u, |g| + delta)
        xp.maximum(u, xp.abs(g) + eps, out=u)
        p.data -= lr / (1.0 - rho1 ** state["step"]) * s / u
