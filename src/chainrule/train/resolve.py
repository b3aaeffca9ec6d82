"""The ``loss=`` and ``optimizer=`` arguments of ``fit``: a name, or the thing itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import functional, optim
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, suggest
from chainrule.nn.module import Module

LossFn = Callable[[Tensor, Tensor], Tensor]

LOSSES = {
    "cross_entropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "mse": "mse_loss",
    "mean_squared_error": "mse_loss",
    "l1": "l1_loss",
    "mae": "l1_loss",
    "binary_cross_entropy": "binary_cross_entropy",
    "bce": "binary_cross_entropy",
    "bce_with_logits": "binary_cross_entropy_with_logits",
    "nll": "nll_loss",
}

OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "nadam": "NAdam",
    "radam": "RAdam",
    "adamax": "Adamax",
}


def get_loss(spec: str | LossFn) -> LossFn:
    """A loss function from a name in ``LOSSES`` or a callable ``loss(outputs, targets)``."""
    if callable(spec):
        return spec
    if spec not in LOSSES:
        raise ArgumentError(
            f"unknown loss {spec!r}{suggest(spec, LOSSES)}; expected one of {sorted(LOSSES)} "
            "or a function"
        )
    return getattr(functional, LOSSES[spec])


def get_optimizer(spec: Any, model: Module) -> Any:
    """An optimiser instance, or one built with its defaults from a name in ``OPTIMIZERS``."""
    if not isinstance(spec, str):
        if not hasattr(spec, "step") or not hasattr(spec, "param_groups"):
            raise ArgumentError(
                f"optimizer must be an optimiser or one of {sorted(OPTIMIZERS)}; got {spec!r}"
            )
        return spec
    if spec.lower() not in OPTIMIZERS:
        raise ArgumentError(
            f"unknown optimizer {spec!r}{suggest(spec.lower(), OPTIMIZERS)}; expected one of "
            f"{sorted(OPTIMIZERS)}"
        )
    return getattr(optim, OPTIMIZERS[spec.lower()])(model.parameters())
