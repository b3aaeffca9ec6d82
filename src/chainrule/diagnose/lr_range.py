"""The learning-rate range test (Smith, 2017): train a few hundred steps while the
learning rate grows exponentially, watch the loss, and pick a rate before it blows up.

The suggestion is the learning rate of the lowest smoothed loss, divided by 10: the
minimum sits where steps are already so large that the loss is about to rise, and a
tenth of it is still in the steep, fast-falling part of the curve.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.backend import get_rng_state, set_rng_state
from chainrule.checks import is_int
from chainrule.diagnose import doctor_plots
from chainrule.errors import ArgumentError
from chainrule.nn.loss import LossFn, get_loss
from chainrule.nn.module import Module
from chainrule.optim import SGD
from chainrule.optim.optimizer import Optimizer
from chainrule.train.data_adapter import FitData, as_loader

SMOOTHING = 0.9  # EMA weight of the past loss: ~10 steps of memory, short against 200 steps
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss is 4x its minimum: past here it only explodes
SUGGESTION_DIVISOR = 10.0  # the suggestion: a tenth of the learning rate at the minimum loss


@dataclass
class LRFindResult:
    """What ``lr_find`` saw: learning rates, smoothed and raw losses, and the suggestion."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float
    min_loss_lr: float
    plot_path: Path | None = field(default=None)


def lr_find(
    model: Module,
    data: FitData,
    loss: str | LossFn = "cross_entropy",
    optimizer_cls: Callable[..., Optimizer] = SGD,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 200,
    batch_size: int = 64,
    optimizer_kwargs: Mapping[str, Any] | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> LRFindResult:
    """Range test: ``num_steps`` steps with lr = start_lr (end_lr / start_lr)^(i / (num_steps - 1)).

    ``data``: (x, y) arrays, a Dataset or a DataLoader; ``optimizer_cls(params, lr=...,
    **optimizer_kwargs)`` builds the optimiser. Stops early once the smoothed loss passes
    4x its minimum. Afterwards the model's weights and mode and the library's random
    state are as before. With ``plot``, writes the loss-against-lr PNG there.
    """
    if not 0 < start_lr < end_lr:
        raise ArgumentError(
            f"lr_find: need 0 < start_lr < end_lr; got start_lr={start_lr}, end_lr={end_lr}"
        )
    if not is_int(num_steps) or num_steps < 2:
        raise ArgumentError(
            f"lr_find: num_steps must be an integer >= 2; got num_steps={num_steps!r}"
        )
    loss_fn = get_loss(loss)
    loader = as_loader(data, batch_size, shuffle=True, role="training")
    saved_weights, saved_rng, was_training = model.state_dict(), get_rng_state(), model.training
    optimizer = optimizer_cls(model.parameters(), lr=start_lr, **dict(optimizer_kwargs or {}))
    lrs, raw, smoothed = [], [], []
    average, best = 0.0, math.inf
    try:
        model.train()
        batches = _forever(loader)
        for i in range(num_steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = next(batches)
            value = loss_fn(model(x), y)
            model.zero_grad()
            value.backward()
            optimizer.step()
            current = float(value.item())
            if not math.isfinite(current):
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * current
            debiased = average / (1 - SMOOTHING ** (i + 1))
            lrs.append(lr)
            raw.append(current)
            smoothed.append(debiased)
            best = min(best, debiased)
            if debiased > DIVERGE_FACTOR * best:
                break
    finally:
        model.load_state_dict(saved_weights)
        model.zero_grad()
        model.train(was_training)
        set_rng_state(saved_rng)
    if not lrs:
        raise ArgumentError(
            f"lr_find: the loss was not finite even at start_lr={start_lr}; check the data and the model"
        )
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    result = LRFindResult(
        lrs=lrs,
        losses=smoothed,
        raw_losses=raw,
        suggestion=lrs[lowest] / SUGGESTION_DIVISOR,
        min_loss_lr=lrs[lowest],
    )
    if plot is not None:
        result.plot_path = doctor_plots.plot_lr_find(lrs, smoothed, result.suggestion, plot)
    return result


def _forever(loader: Any) -> Any:
    """The loader's batches, epoch after epoch, each epoch in a fresh order."""
    while True:
        yield from loader.iterate(loader.epoch_order())
