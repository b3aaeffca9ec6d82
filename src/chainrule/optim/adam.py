"""Adam (adaptive moments) and AdamW (Adam with decoupled weight decay)."""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import fused, get_array_module
from chainrule.optim.optimizer import Array, Optimizer, Params


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), in the lecture's symbols (rho1, rho2 = betas, delta = eps):

    s <- rho1 s + (1 - rho1) g;  r <- rho2 r + (1 - rho2) g^2;
    s_hat = s / (1 - rho1^t);  r_hat = r / (1 - rho2^t);  theta <- theta - lr s_hat / (sqrt(r_hat) + delta).
    ``amsgrad`` uses the running maximum of r (Reddi et al., 2018). ``weight_decay`` adds
    weight_decay * theta to g (an L2 penalty, scaled by the adaptive step; see AdamW).
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, (rho1, rho2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        if wd and self.decoupled_weight_decay:
            p.data *= 1.0 - lr * wd  # theta <- (1 - lr lambda) theta, apart from the gradient
        state["step"] += 1
        t = state["step"]
        # The bias corrections folded into two scalars (as PyTorch does):
        # lr s_hat / (sqrt(r_hat) + delta) = (lr / (1 - rho1^t)) s / (sqrt(r) / sqrt(1 - rho2^t) + delta)
        fused.adam_(
            p.data,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            rho1=rho1,
            rho2=rho2,
            eps=eps,
            step_size=lr / (1.0 - rho1**t),
            bc2_sqrt=math.sqrt(1.0 - rho2**t),
            weight_decay=0.0 if self.decoupled_weight_decay else wd,
            max_r=state.get("max_exp_avg_sq"),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019):
    theta <- (1 - lr weight_decay) theta, then the Adam step on the plain gradient.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
