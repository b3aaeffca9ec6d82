"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.backend import fused
from chainrule.errors import ArgumentError
from chainrule.optim.optimizer import Array, Optimizer, Params


class SGD(Optimizer):
    """theta <- theta - lr * g, optionally with momentum (PyTorch's form).

    With momentum mu: v <- mu v + (1 - dampening) g (v = g at the first step), then
    theta <- theta - lr v; Nesterov uses g + mu v in place of v. For a constant lr and
    no dampening this is the lecture's v' <- alpha v' - eps g; theta <- theta + v' with
    alpha = mu, eps = lr and v' = -lr v. ``weight_decay`` adds weight_decay * theta to g
    (the gradient of an L2 penalty weight_decay/2 ||theta||^2). lr defaults to 0.01.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    def check_group(self, group: dict[str, Any]) -> None:
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ArgumentError(
                "SGD: nesterov=True needs momentum > 0 and dampening = 0; got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        v = state.get("momentum_buffer")
        first = bool(group["momentum"]) and v is None
        if first:  # v_1 = g (written by the update)
            v = state["momentum_buffer"] = backend.get_array_module(p.data).empty_like(p.data)
        fused.sgd_(
            p.data,
            grad,
            v if group["momentum"] else None,
            lr=group["lr"],
            momentum=group["momentum"],
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            weight_decay=group["weight_decay"],
            first=first,
        )
