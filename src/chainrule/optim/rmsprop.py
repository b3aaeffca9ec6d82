"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class RMSprop(Optimizer):
    """r <- alpha r + (1 - alpha) g * g; theta <- theta - lr g / (sqrt(r) + eps)  (Hinton, 2012).

    ``centered`` divides by the running standard deviation sqrt(r - m^2) instead, with
    m the running mean of g; ``momentum`` mu accumulates the scaled step,
    b <- mu b + g / (sqrt(r) + eps), theta <- theta - lr b. As in PyTorch eps sits
    outside the square root (the lecture writes sqrt(delta + r)).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, rho, eps = group["lr"], group["alpha"], group["eps"]  # rho: the lecture's decay rate
        mu, wd = group["momentum"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            if mu:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        g = grad + wd * p.data if wd else grad  # a new array: grad is never modified
        state["step"] += 1
        r = state["square_avg"]
        r *= rho  # r <- rho r + (1 - rho) g ⊙ g
        r += (1.0 - rho) * g * g
        if group["centered"]:
            m = state["grad_avg"]
            m *= rho  # m <- rho m + (1 - rho) g
            m += (1.0 - rho) * g
            denominator = xp.sqrt(r - m * m) + eps
        else:
            denominator = xp.sqrt(r) + eps
        if mu:
            b = state["momentum_buffer"]
            b *= mu  # b <- mu b + g / (sqrt(r) + delta)
            b += g / denominator
            p.data -= lr * b
        else:
            p.data -= lr * g / denominator  # theta <- theta - eps g / (sqrt(r) + delta)
