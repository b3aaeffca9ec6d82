"""ASGD: stochastic gradient descent with a decaying step and Polyak-Ruppert averaging."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.checks import is_finite_number
from chainrule.errors import ArgumentError
from chainrule.optim.optimizer import Array, Optimizer, Params


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky, 1992), in PyTorch's form (after Bottou's sgd code).

    At step t: theta <- theta (1 - lambd eta) - eta g, then the average
    ax <- ax + mu (theta - ax); then eta <- lr / (1 + lambd lr t)^alpha and
    mu <- 1 / max(1, t - t0). Averaging starts after t0 steps (before, ax follows theta).
    The averaged weights, usually better than the last ones, are
    ``averaged_parameters()``; ``swap_averaged()`` puts them in the model (and back).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _checked(self, key: str, value: Any) -> Any:
        if key in ("lambd", "alpha", "t0"):  # alpha is an exponent here, not a decay rate
            if not is_finite_number(value) or value < 0:
                raise ArgumentError(
                    f"ASGD: {key} must be a non-negative number; got {key}={value!r}"
                )
            return float(value)
        return super()._checked(key, value)

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = get_array_module(p.data)
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        if not state:
            state["step"] = 0
            state["eta"] = lr
            state["mu"] = 1.0
            state["ax"] = xp.zeros_like(p.data)
        state["step"] += 1
        t, eta = state["step"], state["eta"]
        g = grad + group["weight_decay"] * p.data if group["weight_decay"] else grad
        p.data *= 1.0 - lambd * eta
        p.data -= eta * g
        ax = state["ax"]
        if state["mu"] != 1:
            ax += state["mu"] * (p.data - ax)
        else:
            ax[...] = p.data
        state["eta"] = lr / (1.0 + lambd * lr * t) ** alpha
        state["mu"] = 1.0 / max(1.0, t - t0)

    def averaged_parameters(self) -> list[Tensor]:
        """The averaged weights ax, one Tensor per parameter in group order (a parameter
        not stepped yet is its own average)."""
        return [
            Tensor._wrap(self.state[p]["ax"].copy() if self.state.get(p) else p.data.copy(), False)
            for group in self.param_groups
            for p in group["params"]
        ]

    def swap_averaged(self) -> None:
        """Exchange each parameter's values with its average, in place (call again to undo):
        evaluate or save the averaged model between two calls."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if state:
                    current = p.data.copy()
                    p.data[...] = state["ax"]
                    state["ax"][...] = current
