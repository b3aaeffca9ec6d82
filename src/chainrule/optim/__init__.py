"""Optimisers (``SGD``, ``Adam``, ..., ``LBFGS``, ``Newton``) and learning-rate schedules
(``optim.lr_scheduler``).

``optim.get("adam", model.parameters(), lr=1e-3)`` builds an optimiser from its name, as
``fit(optimizer="adam")`` and the experiment files do; ``OPTIMIZERS`` lists the names.
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ArgumentError, ArgumentTypeError, suggest
from chainrule.optim import lr_scheduler
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.adamax import Adamax
from chainrule.optim.asgd import ASGD
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.nadam import NAdam
from chainrule.optim.newton import Newton
from chainrule.optim.optimizer import Optimizer, Params
from chainrule.optim.radam import RAdam
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.rprop import Rprop
from chainrule.optim.sgd import SGD

# Every optimiser by the name ``fit`` and the experiment files take (lower case).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "nadam": NAdam,
    "radam": RAdam,
    "adamax": Adamax,
    "rprop": Rprop,
    "asgd": ASGD,
    "lbfgs": LBFGS,
    "newton": Newton,
}


def get(name: str, params: Params, **kwargs: Any) -> Optimizer:
    """The optimiser called ``name`` (any case: "adam", "SGD"), built on ``params`` with
    ``kwargs`` (its own defaults for the rest). Unknown names are refused, listing the known."""
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"optimizer name must be a string, one of {sorted(OPTIMIZERS)}; got {name!r}"
        )
    if name.lower() not in OPTIMIZERS:
        raise ArgumentError(
            f"unknown optimizer {name!r}{suggest(name.lower(), OPTIMIZERS)}; expected one of "
            f"{sorted(OPTIMIZERS)}"
        )
    return OPTIMIZERS[name.lower()](params, **kwargs)


__all__ = [
    "ASGD",
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Newton",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "get",
    "lr_scheduler",
]
