"""NAdam: Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class NAdam(Optimizer):
    """Adam whose step looks ahead along the momentum (Dozat, 2016), as in PyTorch.

    The momentum coefficient warms up, mu_t = rho1 (1 - 0.5 * 0.96^(t momentum_decay)),
    and the step mixes the current gradient and the next momentum:
    theta <- theta - lr [(1 - mu_t) g / (1 - prod_{i<=t} mu_i)
                         + mu_{t+1} s / (1 - prod_{i<=t+1} mu_i)] / (sqrt(r_hat) + delta).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
    ) -> None:
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay
        )
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, (rho1, rho2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        g = grad + wd * p.data if wd else grad  # a new array: grad is never modified
        state["step"] += 1
        t, psi = state["step"], group["momentum_decay"]
        mu = rho1 * (1.0 - 0.5 * 0.96 ** (t * psi))  # mu_t
        mu_next = rho1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))  # mu_{t+1}
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        s, r = state["exp_avg"], state["exp_avg_sq"]
        s *= rho1  # s <- rho1 s + (1 - rho1) g
        s += (1.0 - rho1) * g
        r *= rho2  # r <- rho2 r + (1 - rho2) g ⊙ g
        r += (1.0 - rho2) * g * g
        denominator = xp.sqrt(r / (1.0 - rho2**t)) + eps  # sqrt(r_hat) + delta
        p.data -= lr * (1.0 - mu) / (1.0 - mu_product) * g / denominator
        p.data -= lr * mu_next / (1.0 - mu_product * mu_next) * s / denominator
