"""Learning-rate schedules: each sets ``group["lr"]`` of every parameter group.

A schedule is a formula lr_k = f(lr_0, k) of the step count k, with lr_0 each group's
``initial_lr`` (its lr when the first schedule was attached). ``step()`` advances k by
one: call it once per epoch (or once per batch, counting batches). Construction sets
each lr to f(lr_0, 0). ``ReduceLROnPlateau`` instead reacts to a monitored value.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.checks import check_int, check_real, is_number
from chainrule.errors import ArgumentError, ArgumentTypeError


def _check_optimizer(optimizer: Any, owner: str) -> Any:
    if not hasattr(optimizer, "param_groups"):
        raise ArgumentTypeError(
            f"{owner} needs an optimiser (with param_groups); got {type(optimizer).__name__}"
        )
    return optimizer


class LRScheduler:
    """Base of the formula schedules: subclasses define ``lr_at(base_lr, k)``."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = _check_optimizer(optimizer, type(self).__name__)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, k: int) -> float:
        """The learning rate at step ``k`` of a group that started at ``base_lr``."""
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def step(self) -> None:
        """Advance the schedule by one step (epoch or batch) and set every group's lr."""
        self.last_epoch += 1
        self._apply()

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            base_lr = group.setdefault("initial_lr", group["lr"])  # a group added later
            try:
                lr = float(self.lr_at(base_lr, self.last_epoch))
            except OverflowError:  # e.g. gamma ** k past the largest float
                lr = math.inf
            if not 0 <= lr < math.inf:
                raise ArgumentError(
                    f"{type(self).__name__}: at step {self.last_epoch} the schedule gives a "
                    f"learning rate of {lr}; it must be finite and >= 0"
                )
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The step count (the formula's settings are constructor arguments)."""
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at the saved step, setting each group's lr to the formula's value there."""
        self.last_epoch = check_int(
            state["last_epoch"], "last_epoch", type(self).__name__, minimum=0
        )
        self._apply()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class LinearDecay(LRScheduler):
    """The lecture's decay: lr_k = (1 - k/tau) lr_0 + (k/tau) final_lr until k = tau, then final_lr."""

    def __init__(self, optimizer: Any, final_lr: float, tau: int) -> None:
        self.final_lr = check_real(
            final_lr, "final_lr", "LinearDecay", lambda v: v >= 0, "a non-negative number"
        )
        self.tau = check_int(tau, "tau", "LinearDecay", minimum=1)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        a = min(k / self.tau, 1.0)  # alpha = k / tau
        return (1.0 - a) * base_lr + a * self.final_lr


class StepLR(LRScheduler):
    """lr_k = lr_0 * gamma^(k // step_size): multiply by gamma every step_size steps."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int(step_size, "step_size", "StepLR", minimum=1)
        self.gamma = check_real(gamma, "gamma", "StepLR", lambda v: v > 0, "a positive number")
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        return base_lr * self.gamma ** (k // self.step_size)


class MultiStepLR(LRScheduler):
    """lr_k = lr_0 * gamma^(number of milestones <= k)."""

    def __init__(self, optimizer: Any, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.milestones = list(milestones) if isinstance(milestones, Sequence) else [milestones]
        positive_ints = all(
            isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in self.milestones
        )
        if not positive_ints or self.milestones != sorted(set(self.milestones)):
            raise ArgumentError(
                "MultiStepLR: milestones must be strictly increasing positive integers; got "
                f"milestones={self.milestones}"
            )
        self.gamma = check_real(gamma, "gamma", "MultiStepLR", lambda v: v > 0, "a positive number")
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, k)


class ExponentialLR(LRScheduler):
    """lr_k = lr_0 * gamma^k."""

    def __init__(self, optimizer: Any, gamma: float) -> None:
        self.gamma = check_real(
            gamma, "gamma", "ExponentialLR", lambda v: v > 0, "a positive number"
        )
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        return base_lr * self.gamma**k


class CosineAnnealingLR(LRScheduler):
    """lr_k = eta_min + (lr_0 - eta_min) (1 + cos(pi k / T_max)) / 2, then eta_min after T_max.

    (PyTorch's version climbs back up after T_max; this one stays at eta_min.)
    """

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = check_int(T_max, "T_max", "CosineAnnealingLR", minimum=1)
        self.eta_min = check_real(
            eta_min, "eta_min", "CosineAnnealingLR", lambda v: v >= 0, "a non-negative number"
        )
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        k = min(k, self.T_max)
        return (
            self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * k / self.T_max)) / 2
        )


class LambdaLR(LRScheduler):
    """lr_k = lr_0 * lr_lambda(k)."""

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise ArgumentTypeError(
                f"LambdaLR: lr_lambda must be a function of the step; got {type(lr_lambda).__name__}"
            )
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        return base_lr * self.lr_lambda(k)


class LinearWarmup(LRScheduler):
    """lr rises linearly from start_factor * lr_0 to lr_0 over ``warmup_steps`` steps, then
    follows ``after`` (a schedule of the same optimiser, from its k = 0) or stays at lr_0.

    ``LinearWarmup(opt, 5, after=CosineAnnealingLR(opt, T_max=95))``; step only the warm-up.
    """

    def __init__(
        self,
        optimizer: Any,
        warmup_steps: int,
        start_factor: float = 0.0,
        after: LRScheduler | None = None,
    ) -> None:
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", "LinearWarmup", minimum=1)
        self.start_factor = check_real(
            start_factor, "start_factor", "LinearWarmup", lambda v: 0 <= v <= 1, "in [0, 1]"
        )
        if after is not None and not isinstance(after, LRScheduler):
            raise ArgumentTypeError(
                f"LinearWarmup: after must be a formula schedule (an LRScheduler); got "
                f"{type(after).__name__}"
            )
        if after is not None and after.optimizer is not optimizer:
            raise ArgumentError("LinearWarmup: after schedules a different optimiser")
        self.after = after
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        if k < self.warmup_steps:
            return base_lr * (self.start_factor + (1 - self.start_factor) * k / self.warmup_steps)
        if self.after is None:
            return base_lr
        return self.after.lr_at(base_lr, k - self.warmup_steps)


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith, 2018), learning rate only, stepped per batch: cosine
    from max_lr / div_factor up to max_lr at step pct_start * total_steps - 1, then cosine
    down to max_lr / (div_factor * final_div_factor) at step total_steps - 1, where it stays.
    """

    def __init__(
        self,
        optimizer: Any,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        name = "OneCycleLR"
        self.max_lr = check_real(max_lr, "max_lr", name, lambda v: v > 0, "a positive number")
        self.total_steps = check_int(total_steps, "total_steps", name, minimum=2)
        pct_start = check_real(pct_start, "pct_start", name, lambda v: 0 < v < 1, "in (0, 1)")
        self.peak_step = pct_start * total_steps - 1
        if not 0 < self.peak_step < total_steps - 1:
            raise ArgumentError(
                f"{name}: the peak, pct_start * total_steps - 1 = {self.peak_step:g}, must lie "
                f"between step 0 and the last step {total_steps - 1}"
            )
        div_factor = check_real(div_factor, "div_factor", name, lambda v: v >= 1, ">= 1")
        final_div_factor = check_real(
            final_div_factor, "final_div_factor", name, lambda v: v >= 1, ">= 1"
        )
        self.start_lr = self.max_lr / div_factor
        self.final_lr = self.start_lr / final_div_factor
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, k: int) -> float:
        if k <= self.peak_step:
            return _cosine(self.start_lr, self.max_lr, k / self.peak_step)
        fraction = (k - self.peak_step) / (self.total_steps - 1 - self.peak_step)
        return _cosine(self.max_lr, self.final_lr, min(fraction, 1.0))


def _cosine(start: float, end: float, fraction: float) -> float:
    """From ``start`` (fraction 0) to ``end`` (fraction 1) along half a cosine."""
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


class ReduceLROnPlateau:
    """Multiply every group's lr by ``factor`` (down to ``min_lr``) when the monitored
    value has not improved for more than ``patience`` steps; then wait ``cooldown`` steps.

    ``step(metric)`` takes the value (e.g. the validation loss). Improvement means
    metric < best * (1 - threshold) for mode='min' with threshold_mode='rel', and
    metric < best - threshold with 'abs' (mirrored for mode='max').
    """

    def __init__(
        self,
        optimizer: Any,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        name = "ReduceLROnPlateau"
        self.optimizer = _check_optimizer(optimizer, name)
        if mode not in ("min", "max"):
            raise ArgumentError(f"{name}: mode must be 'min' or 'max'; got mode={mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ArgumentError(
                f"{name}: threshold_mode must be 'rel' or 'abs'; got threshold_mode={threshold_mode!r}"
            )
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = check_real(factor, "factor", name, lambda v: 0 < v < 1, "in (0, 1)")
        self.patience = check_int(patience, "patience", name, minimum=0)
        self.threshold = check_real(
            threshold, "threshold", name, lambda v: v >= 0, "a non-negative number"
        )
        self.cooldown = check_int(cooldown, "cooldown", name, minimum=0)
        self.min_lr = check_real(min_lr, "min_lr", name, lambda v: v >= 0, "a non-negative number")
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (1 + self.threshold)
        return metric > best + self.threshold

    def step(self, metric: float) -> None:
        """Record this step's monitored value; reduce the lr if it has plateaued."""
        metric = metric.item() if hasattr(metric, "item") else metric
        if not is_number(metric):
            raise ArgumentTypeError(
                f"ReduceLROnPlateau.step: metric must be a number (e.g. the validation loss); "
                f"got metric={metric!r}"
            )
        metric = float(metric)
        self.last_epoch += 1
        if self.is_better(metric, self.best):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The counters; the lr itself lives in the optimiser's state_dict."""
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.last_epoch = int(state["last_epoch"])

    def __repr__(self) -> str:
        return f"ReduceLROnPlateau(best={self.best}, lr={self.get_last_lr()})"
