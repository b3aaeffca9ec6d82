"""The ``optimizer=`` argument of ``fit``: a name in ``optim.OPTIMIZERS``, or the optimiser."""

from __future__ import annotations

from chainrule import optim
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.optim.optimizer import Optimizer


def get_optimizer(spec: str | Optimizer, model: Module) -> Optimizer:
    """``spec`` itself if it is an optimiser, else ``optim.get(spec, model.parameters())``."""
    if isinstance(spec, str):
        return optim.get(spec, model.parameters())
    if not hasattr(spec, "step") or not hasattr(spec, "param_groups"):
        raise ArgumentError(
            f"optimizer must be an optimiser or one of {sorted(optim.OPTIMIZERS)}; got {spec!r}"
        )
    return spec
