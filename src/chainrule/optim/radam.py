"""RAdam: Adam whose adaptive step is switched on once its variance is tractable."""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class RAdam(Optimizer):
    """Rectified Adam (Liu et al., 2020), as in PyTorch.

    With rho_inf = 2 / (1 - rho2) - 1 and rho_t = rho_inf - 2 t rho2^t / (1 - rho2^t):
    while rho_t <= 5, theta <- theta - lr s_hat (momentum SGD); after, the Adam step
    scaled by the rectifier sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
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
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        g = grad + wd * p.data if wd else grad  # a new array: grad is never modified
        state["step"] += 1
        t = state["step"]
        s, r = state["exp_avg"], state["exp_avg_sq"]
        s *= rho1  # s <- rho1 s + (1 - rho1) g
        s += (1.0 - rho1) * g
        r *= rho2  # r <- rho2 r + (1 - rho2) g ⊙ g
        r += (1.0 - rho2) * g * g
        s_hat = s / (1.0 - rho1**t)
        rho_inf = 2.0 / (1.0 - rho2) - 1.0
        rho_t = rho_inf - 2.0 * t * rho2**t / (1.0 - rho2**t)
        if rho_t > 5.0:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            adaptive = math.sqrt(1.0 - rho2**t) / (
                xp.sqrt(r) + eps
            )  # 1 / sqrt(r_hat), eps as PyTorch
            p.data -= lr * rect * s_hat * adaptive
        else:
            p.data -= lr * s_hat
