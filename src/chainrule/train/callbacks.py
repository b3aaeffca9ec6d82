"""Callbacks: code that runs at the hooks of training (Keras' ``on_epoch_end(epoch, logs)``).

A callback sees the running ``trainer`` (model, optimizer, history, ``stop_training``)
through ``self.trainer``. State resets in ``on_train_begin`` so one instance can be used
for several ``fit`` calls; ``state_dict`` holds what a resumed run needs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.errors import ArgumentError
from chainrule.optim import lr_scheduler
from chainrule.train.serialization import atomic_write_text, save

if TYPE_CHECKING:
    from chainrule.train.loop import Trainer

Logs = dict[str, float]


class Callback:
    """Base class: override the hooks you need.

    A callback that ``writes_files`` runs only in the process that writes (rank 0) when
    training is distributed; every other callback runs in every process.
    """

    trainer: Trainer
    writes_files = False

    def set_trainer(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What this callback must remember across a resume (empty for stateless ones)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _better(mode: str, min_delta: float) -> Callable[[float, float], bool]:
    """Is ``current`` an improvement on ``best`` by more than ``min_delta``?"""
    if mode == "min":
        return lambda current, best: current < best - min_delta
    return lambda current, best: current > best + min_delta


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ArgumentError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    if mode != "auto":
        return mode
    return (
        "max"
        if any(word in monitor for word in ("acc", "precision", "recall", "f1", "auc"))
        else "min"
    )


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Goodfellow et al., algorithm 7.1: keep the parameters of the best epoch seen; with
    ``restore_best_weights`` they are put back in the model when training ends.
    ``patience=10`` is the lecture's "no improvement in ten epochs" rule.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 0,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
        baseline: float | None = None,
        start_from_epoch: int = 0,
        verbose: bool = True,
    ) -> None:
        if patience < 0:
            raise ArgumentError(f"EarlyStopping: patience must be >= 0; got patience={patience}")
        if min_delta < 0:
            raise ArgumentError(f"EarlyStopping: min_delta must be >= 0; got min_delta={min_delta}")
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor)
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.baseline = baseline
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self._improved = _better(self.mode, min_delta)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.best = (
            self.baseline
            if self.baseline is not None
            else (math.inf if self.mode == "min" else -math.inf)
        )
        self.best_epoch: int | None = None
        self.best_weights: dict[str, Any] | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise ArgumentError(
                f"EarlyStopping monitors {self.monitor!r}, which is not logged; logged: {sorted(logs or {})}"
                + (
                    " (validation metrics need validation_data)"
                    if self.monitor.startswith("val_")
                    else ""
                )
            )
        if epoch < self.start_from_epoch or math.isnan(current):
            return
        if self._improved(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.stop_reason = (
                f"early stopping: {self.monitor} has not improved for {self.wait} epoch(s); "
                f"best {self.best:.6g} at epoch {self.best_epoch + 1}"
            )

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)
            if self.verbose:
                self.trainer.log(
                    f"restored the weights of epoch {self.best_epoch + 1} ({self.monitor} = {self.best:.6g})"
                )

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = state["wait"]
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_weights = state["best_weights"]


class ModelCheckpoint(Callback):
    """Save the model's weights: every epoch, or only when ``monitor`` improves.

    ``filepath`` may contain ``{epoch}`` and any logged key (``"ckpt-{epoch:03d}.npz"``).
    Files are written atomically; ``.safetensors`` paths give safetensors files.
    """

    writes_files = True

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
        verbose: bool = False,
    ) -> None:
        self.filepath = str(filepath)
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor)
        self.save_best_only = save_best_only
        self.verbose = verbose
        self._improved = _better(self.mode, 0.0)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved: str | None = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                raise ArgumentError(
                    f"ModelCheckpoint monitors {self.monitor!r}, which is not logged; logged: {sorted(logs)}"
                )
            if math.isnan(current) or not self._improved(current, self.best):
                return
            self.best = current
        path = self.filepath.format(epoch=epoch, **logs)
        save(self.trainer.model.state_dict(), path)
        self.last_saved = path
        if self.verbose:
            self.trainer.log(f"saved {path}")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "last_saved": self.last_saved}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.last_saved = state["best"], state["last_saved"]


class LearningRateScheduler(Callback):
    """Step a schedule from ``chainrule.optim.lr_scheduler`` (or set lr = fn(epoch)).

    ``interval='epoch'`` steps after each epoch, ``'batch'`` after each optimiser step.
    """

    def __init__(self, schedule: Any, interval: str = "epoch") -> None:
        if interval not in ("epoch", "batch"):
            raise ArgumentError(f"interval must be 'epoch' or 'batch'; got {interval!r}")
        self.schedule = schedule
        self.interval = interval

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if callable(self.schedule) and not hasattr(self.schedule, "step"):
            lr = float(self.schedule(epoch))
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = lr

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.interval == "batch" and hasattr(self.schedule, "step"):
            self.schedule.step()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.interval == "epoch" and hasattr(self.schedule, "step"):
            self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict() if hasattr(self.schedule, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if hasattr(self.schedule, "load_state_dict"):
            self.schedule.load_state_dict(state)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving: feeds the
    logged value to ``optim.lr_scheduler.ReduceLROnPlateau`` after every epoch, so the rule
    is the scheduler's (PyTorch's), the one rule of the library.

    The rule: an epoch improves when the value beats the best so far by more than
    ``min_delta`` (mode 'min': value < best - min_delta with ``threshold_mode='abs'``, the
    default here; value < best * (1 - min_delta) with 'rel'); the lr is cut when more
    than ``patience`` epochs in a row have not improved, then ``cooldown`` epochs pass
    before bad epochs count again; it never goes below ``min_lr``.

    From Keras: ``monitor``, ``mode`` (with 'auto'), ``factor``, ``cooldown``, ``min_lr``,
    ``verbose`` mean the same; ``min_delta`` is the scheduler's ``threshold`` with
    ``threshold_mode='abs'``. NOTE: Keras cuts after ``patience`` bad epochs, PyTorch after
    more than ``patience``: Keras' ``patience=p`` is ``patience=p - 1`` here.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: bool = True,
        threshold_mode: str = "abs",
    ) -> None:
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor)
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr
        self.min_delta, self.threshold_mode = min_delta, threshold_mode
        self.verbose = verbose
        self.scheduler: lr_scheduler.ReduceLROnPlateau | None = None
        self._make(_NoOptimizer())  # checks the arguments now, not at the first epoch

    def _make(self, optimizer: Any) -> lr_scheduler.ReduceLROnPlateau:
        return lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=self.mode,
            factor=self.factor,
            patience=self.patience,
            threshold=self.min_delta,
            threshold_mode=self.threshold_mode,
            cooldown=self.cooldown,
            min_lr=self.min_lr,
        )

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.scheduler = self._make(self.trainer.optimizer)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise ArgumentError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, which is not logged; logged: {sorted(logs or {})}"
            )
        groups = self.trainer.optimizer.param_groups
        before = [group["lr"] for group in groups]
        assert self.scheduler is not None, "on_train_begin makes the scheduler"
        self.scheduler.step(current)
        if self.verbose and any(g["lr"] < lr for g, lr in zip(groups, before)):
            new_lr = min(g["lr"] for g in groups)
            self.trainer.log(f"epoch {epoch + 1}: reducing learning rate to {new_lr:.3g}")

    @property
    def best(self) -> float:
        """The best value of ``monitor`` so far (inf, or -inf for mode 'max', before any)."""
        if self.scheduler is None:
            return math.inf if self.mode == "min" else -math.inf
        return self.scheduler.best

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (
            "wait" in state
        ):  # a checkpoint of the callback's own counters, before it fed a scheduler
            state = {
                "best": state["best"],
                "num_bad_epochs": state["wait"],
                "cooldown_counter": state["cooldown_left"],
                "last_epoch": 0,
            }
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


class _NoOptimizer:
    """An optimiser with no parameter groups: lets a scheduler check its arguments."""

    param_groups = ()


class CSVLogger(Callback):
    """Write the history to a CSV file after every epoch (rewritten atomically each time)."""

    writes_files = True

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        self.filename = Path(filename)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        atomic_write_text(self.filename, self.trainer.history.to_csv())


class TerminateOnNaN(Callback):
    """Stop at once when the training loss is NaN or infinite.

    The epoch is abandoned before its end-of-epoch callbacks run, so no checkpoint of
    the broken weights is written: the last good one stays.
    """

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.trainer.stop_training = True
            self.trainer.abandon_epoch = True
            self.trainer.stop_reason = (
                f"the training loss became {loss} at epoch {self.trainer.epoch + 1}, batch {batch}; "
                "stopped (try a lower learning rate or gradient clipping)"
            )


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, **hooks: Callable[..., None]) -> None:
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ArgumentError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
