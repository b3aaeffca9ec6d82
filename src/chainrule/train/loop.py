"""``fit`` and the ``Trainer``: the training loop of the lectures, Keras-style.

One step: forward, loss (+ penalty), backward, clip, optimiser step, the regularizer's
proximal step if it has one (``L1L2(proximal=True)``), constraints. One
epoch: every training sample once, in mini-batches drawn without replacement, then the
validation set. The ``Trainer`` holds all the state of a run, so it can be checkpointed
and resumed mid-epoch (``train.run_state``). Its parts live apart: the epoch's running
statistics in ``train.epoch_stats``, evaluation in ``train.evaluation``, the checks
before training in ``train.preflight``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend.checks import defer_checks
from chainrule.checks import is_int
from chainrule.errors import ArgumentError
from chainrule.nn.loss import LossFn, get_loss
from chainrule.nn.module import Module
from chainrule.nn.utils import clip_grad_norm_
from chainrule.optim.optimizer import Optimizer
from chainrule.train.callback_list import CallbackList
from chainrule.train.callbacks import Callback, Logs, TerminateOnNaN
from chainrule.train.checkpoint import Checkpointer
from chainrule.train.data_adapter import FitData, to_model_device, training_loaders
from chainrule.train.epoch_stats import EpochStats
from chainrule.train.evaluation import evaluate_model
from chainrule.train.history import History
from chainrule.train.metrics import Metric, get_metric
from chainrule.train.preflight import preflight
from chainrule.train.progress import ProgressBar
from chainrule.train.resolve import get_optimizer
from chainrule.train.run_state import check_fits, load_run_state, resume_run, run_state, save_run
from chainrule.train.strategy import Strategy, get_strategy
from chainrule.train.weights import weighted_data

# On a device, the steps whose logs are read back (and the progress bar's refresh): every
# LOG_EVERY-th step of an epoch from its first, and its last.
LOG_EVERY = 10


class Trainer:
    """Everything a training run is: the model, how it learns, and where it has got to."""

    def __init__(
        self,
        model: Module,
        *,
        loss: str | LossFn,
        optimizer: Any,
        metrics: Sequence[str | Metric] = (),
        callbacks: Sequence[Callback] = (),
        regularizer: Callable[[Module], Tensor] | None = None,
        clip_grad_norm: float | None = None,
        constraints: Sequence[Callable[[Module], Any]] = (),
        verbose: int = 1,
        strategy: Strategy | str | None = None,
    ) -> None:
        if not isinstance(model, Module):
            raise ArgumentError(f"model must be a chainrule.nn.Module; got {type(model).__name__}")
        if verbose not in (0, 1, 2):
            raise ArgumentError(f"verbose must be 0, 1 or 2; got {verbose!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ArgumentError(f"clip_grad_norm must be positive; got {clip_grad_norm}")
        self.model = model
        self.loss_fn = get_loss(loss)
        self.optimizer = get_optimizer(optimizer, model)
        self.metrics = [get_metric(m) for m in metrics]
        self.stats = EpochStats(self.metrics)
        self.callbacks = list(callbacks)
        if not any(isinstance(c, TerminateOnNaN) for c in self.callbacks):
            self.callbacks.insert(0, TerminateOnNaN())
        self.regularizer = regularizer
        self.clip_grad_norm = clip_grad_norm
        self.constraints = list(constraints)
        self.verbose = verbose
        self.strategy = get_strategy(strategy)
        self.history = History()
        self.epoch = 0  # the epoch under way (or next to start)
        self.batch = 0  # batches finished in that epoch
        self.global_step = 0
        self.batches_per_epoch = 0
        self.stop_training = False
        self.abandon_epoch = False
        self.stop_reason: str | None = None
        self._order: Any = None  # the sample order of the epoch under way
        self.log_every = LOG_EVERY
        self.step_loss: Any = None  # on a device: the last step's loss, unread
        self._progress: ProgressBar | None = None
        self._loader: Any = None
        self._pending_callback_state: list[dict[str, Any]] | None = None
        self.checkpointer: Checkpointer | None = None
        # seconds inside fit() over the whole run: every call, and the legs before a resume
        # (a checkpoint keeps it; the work redone after the checkpoint is not counted twice)
        self.training_seconds = 0.0
        self.training_seconds_partial = False  # resumed from an older file that lacked it
        self._leg_start: float | None = None  # perf_counter() when this fit() began
        self._seconds_before_leg = 0.0

    # ---------------------------------------------------------------- running
    def fit(
        self,
        train_data: FitData,
        *,
        epochs: int,
        batch_size: int = 32,
        validation_data: FitData | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        sample_weight: TensorLike | None = None,
        class_weight: str | Mapping[Any, float] | None = None,
    ) -> History:
        """Train for ``epochs`` (counting epochs already done, so a resumed run finishes).

        ``sample_weight`` (N,) weighs the training samples (or pass ``(x, y, weights)``,
        as in Keras, also for ``validation_data``); ``class_weight`` ("balanced" or
        {class: weight}) multiplies them by their class's weight (``train.weights``).
        Training weights are rescaled to mean 1, so each step's loss is the batch mean of
        weight x loss: an integer weight k counts as k copies in expectation, whatever
        the batch, and scaling every weight changes nothing. Metrics that take
        ``sample_weight`` are weighted too.

        With ``checkpoint_dir``, the whole run state is checkpointed after every epoch
        (and every ``checkpoint_every`` steps); ``resume=True`` continues from the newest
        good checkpoint there, ending bit for bit where an uninterrupted run would.
        Under a distributed strategy ``batch_size`` is the global batch, which the
        processes share (see ``chainrule.distributed``).
        """
        if not is_int(epochs) or epochs < 1:
            raise ArgumentError(f"epochs must be a positive integer; got epochs={epochs!r}")
        loader, val_loader = training_loaders(
            weighted_data(train_data, sample_weight, class_weight),
            batch_size,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            transform=transform,
            strategy=self.strategy,
        )
        self._start(loader, checkpoint_dir, checkpoint_every, resume)
        callbacks = self._begin(epochs)
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(loader, val_loader, callbacks)
        except Exception as error:
            self.strategy.fail(error)  # under MPI: end every process now, not at a timeout
            raise
        finally:
            self._end(callbacks)
        return self.history

    def _start(
        self,
        loader: Any,
        checkpoint_dir: str | os.PathLike[str] | None,
        checkpoint_every: int | None,
        resume: bool,
    ) -> None:
        """Check the first samples (``preflight``), set up checkpoints, reset the stop flags,
        start every process from the same model, and resume if asked."""
        self.batches_per_epoch = len(loader)
        preflight(self.model, self.loss_fn, loader)
        self._loader = loader
        if checkpoint_dir is not None:
            self.checkpointer = Checkpointer(checkpoint_dir, checkpoint_every)
        elif resume or checkpoint_every:
            raise ArgumentError("resume and checkpoint_every need a checkpoint_dir")
        self.stop_training = self.abandon_epoch = False
        self.stop_reason = None
        self.strategy.setup(self.model)
        if resume:
            path = resume_run(self)
            self.log(f"resumed from {path} (at epoch {self.epoch + 1}, batch {self.batch})")
        self._seconds_before_leg, self._leg_start = self.training_seconds, perf_counter()

    def elapsed(self) -> float:
        """Seconds of training so far in this run, earlier fit() calls and resumed legs
        included (``training_seconds`` as it stands now, while fit() runs)."""
        if self._leg_start is None:
            return self.training_seconds
        return self._seconds_before_leg + perf_counter() - self._leg_start

    def _begin(self, epochs: int) -> CallbackList:
        """The run's callbacks (with the progress bar), set up and begun; a resumed run's
        callback states are loaded after ``on_train_begin`` has reset them."""
        callbacks = CallbackList(
            c for c in self.callbacks if self.strategy.is_writer or not c.writes_files
        )
        if self.verbose and self.strategy.is_writer:
            self._progress = ProgressBar(epochs, self.verbose)
            callbacks.append(self._progress)
        callbacks.set_trainer(self)
        resumed = self._pending_callback_state
        callbacks.on_train_begin()
        if resumed is not None:
            for cb, state in zip(self.callbacks, resumed):
                cb.load_state_dict(state)
            self._pending_callback_state = None
        return callbacks

    def _end(self, callbacks: CallbackList) -> None:
        self.training_seconds, self._leg_start = self.elapsed(), None
        if self.stop_reason:
            self.history.stop_reason = self.stop_reason
            self.log(self.stop_reason)
        callbacks.on_train_end()
        self._progress = None

    def _run_epoch(self, loader: Any, val_loader: Any, callbacks: CallbackList) -> None:
        epoch = self.epoch
        if self.batch == 0:
            self._order = loader.epoch_order()
            self.stats.start_epoch()
        callbacks.on_epoch_begin(epoch)
        self.model.train()
        for batch in loader.iterate(self._order, start=self.batch):
            callbacks.on_batch_begin(self.batch)
            logs = self.train_step(*batch)
            self.batch += 1
            self.global_step += 1
            callbacks.on_batch_end(self.batch - 1, logs)
            if self.stop_training and self.abandon_epoch:
                return
            self.after_step()
        logs = self._epoch_logs(val_loader)
        self.history.append(epoch, logs)
        self.epoch += 1
        self.batch = 0
        callbacks.on_epoch_end(epoch, logs)
        self.after_epoch()

    def _epoch_logs(self, val_loader: Any) -> Logs:
        """The finished epoch's logs: training averages, penalty, validation, learning rate."""
        logs = self.running_logs()
        if self.regularizer is not None:
            logs["penalty"] = self.stats.mean_penalty()
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        return logs

    def after_step(self) -> None:
        """After every step's callbacks: the step checkpoint, when one is due."""
        every = self.checkpointer.every_steps if self.checkpointer else None
        if every and self.global_step % every == 0:
            self.save_checkpoint()

    def after_epoch(self) -> None:
        """After every epoch's callbacks: the epoch checkpoint."""
        if self.checkpointer is not None:
            self.save_checkpoint()

    def save_checkpoint(self) -> None:
        """Every process takes part (each one's random state goes in); the writer saves."""
        save_run(self)

    # ------------------------------------------------------------ run state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: see ``train.checkpoint``."""
        return run_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_run_state(self, state)

    def check_fits(self, state: Any) -> None:
        """Refuse, changing nothing, a ``state`` that is not a checkpoint of this run."""
        check_fits(self, state)

    # ------------------------------------------------------------ one step
    def train_step(self, x: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> Logs:
        """One mini-batch: forward, loss, backward, sync, clip, step, prox, constraints; its logs.

        The batch's statistics are sums over its samples, so the strategy can add them up
        over processes in the same message as the gradients. With ``sample_weight`` the
        loss is the batch mean of weight x per-sample loss.

        On a device (a GPU) the statistics stay there, summed into the epoch's totals, and
        are read back in one copy every ``log_every`` steps and at the epoch's last step
        (with the loss's deferred target checks, ``backend.checks``): those steps' logs
        hold the step's values, the others' are empty. On the CPU every step's logs hold
        its values.
        """
        if sample_weight is None:
            x, y = to_model_device(self.model, x, y)
        else:
            x, y, sample_weight = to_model_device(self.model, x, y, sample_weight)
        on_host = x.device == "cpu"
        if on_host:
            out, loss, penalty = self._forward_backward(x, y, sample_weight)
            stats = self.stats.host_step(len(x), out, y, loss, penalty, sample_weight)
        else:
            with defer_checks(self.stats.deferred_checks):
                out, loss, penalty = self._forward_backward(x, y, sample_weight)
            stats = self.stats.device_step(len(x), out, y, loss, penalty, sample_weight)
        stats = self.strategy.sync(self.model, stats)
        self._update(x, y, sample_weight, loss, penalty)
        self.stats.add(stats)
        if on_host:
            return self.stats.averages(stats)
        self.step_loss = loss.data
        if self.batch % self.log_every and self.batch + 1 < self.batches_per_epoch:
            return {}
        return self.stats.read_back(stats)

    def _forward_backward(
        self, x: Tensor, y: Tensor, sample_weight: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Forward, loss (+ penalty), backward: (outputs, data loss, penalty or None)."""
        out = self.model(x)
        if sample_weight is None:
            loss = self.loss_fn(out, y)
        else:
            loss = self.loss_fn(out, y, sample_weight=sample_weight, reduction="none").mean()
        total = loss
        penalty = None
        if self.regularizer is not None:
            penalty = self.regularizer(self.model)
            total = loss + penalty
        self.model.zero_grad()
        total.backward(create_graph=getattr(self.optimizer, "create_graph", False))
        return out, loss, penalty

    def _update(
        self, x: Tensor, y: Tensor, sample_weight: Tensor | None, loss: Tensor, penalty: Any
    ) -> None:
        """After backward (and the strategy's sync): clip, step, prox, constraints."""
        if self.clip_grad_norm is not None:
            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        if getattr(self.optimizer, "requires_closure", False):  # L-BFGS, Newton
            self.optimizer.step(self._closure(x, y, sample_weight, loss, penalty))
        else:
            self.optimizer.step()
        proximal_step = getattr(self.regularizer, "proximal_step", None)
        if proximal_step is not None:  # L1L2(proximal=True): soft-threshold after the step
            proximal_step(self.model, self.optimizer)
        for constraint in self.constraints:
            constraint(self.model)

    def _closure(
        self, x: Tensor, y: Tensor, sample_weight: Tensor | None, loss: Tensor, penalty: Any
    ) -> Callable[[], Tensor]:
        """For an optimiser that re-evaluates the loss (``requires_closure``): a closure
        whose first call returns the loss this step computed (its gradients are in place)
        and each later one runs forward and backward again at the current weights (those
        gradients are neither clipped nor synchronised between processes)."""
        first = [loss if penalty is None else loss + penalty]

        def closure() -> Tensor:
            if first:
                return first.pop()
            _, again, extra = self._forward_backward(x, y, sample_weight)
            return again if extra is None else again + extra

        return closure

    # ------------------------------------------------------------ reading
    def running_logs(self) -> Logs:
        """The epoch's averages so far: loss and metrics, weighted by batch size (on a
        device, read back in one copy if they are not yet)."""
        return self.stats.running_logs()

    def evaluate(self, data: FitData, batch_size: int = 256) -> Logs:
        """Loss and metrics over a whole data set, in eval mode, without a graph."""
        return evaluate_model(
            self.model,
            data,
            self.loss_fn,
            self.metrics,
            batch_size=batch_size,
            strategy=self.strategy,
        )

    def log(self, message: str) -> None:
        if not self.verbose or not self.strategy.is_writer:
            return
        if self._progress is not None:
            self._progress.write(message)
        else:
            print(message)


def fit(
    model: Module,
    train_data: FitData,
    *,
    loss: str | LossFn,
    optimizer: str | Optimizer,
    epochs: int,
    batch_size: int = 32,
    validation_data: FitData | None = None,
    validation_split: float = 0.0,
    metrics: Sequence[str | Metric] = (),
    callbacks: Sequence[Callback] = (),
    regularizer: Callable[[Module], Tensor] | None = None,
    clip_grad_norm: float | None = None,
    constraints: Sequence[Callable[[Module], object]] = (),
    shuffle: bool = True,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    verbose: int = 1,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    strategy: Strategy | str | None = None,
    sample_weight: TensorLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
) -> History:
    """Train ``model`` on ``train_data`` ((x, y) arrays, (x, y, sample_weight), a Dataset
    or a DataLoader).

    Returns the ``History``: per-epoch ``loss`` (the data loss, without the penalty),
    each metric, ``val_*`` when there is validation data, and ``lr``. ``strategy="mpi"``
    trains one model on every process of an ``mpiexec`` job (``chainrule.distributed``).
    ``sample_weight`` and ``class_weight``: see ``Trainer.fit``.
    """
    trainer = Trainer(
        model,
        loss=loss,
        optimizer=optimizer,
        metrics=metrics,
        callbacks=callbacks,
        regularizer=regularizer,
        clip_grad_norm=clip_grad_norm,
        constraints=constraints,
        verbose=verbose,
        strategy=strategy,
    )
    return trainer.fit(
        train_data,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        validation_split=validation_split,
        shuffle=shuffle,
        transform=transform,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        sample_weight=sample_weight,
        class_weight=class_weight,
    )
