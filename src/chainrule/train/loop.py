"""``fit``, ``evaluate``, ``predict``: the training loop of the lectures, Keras-style.

One step: forward, loss (+ penalty), backward, clip, optimiser step, the regularizer's
proximal step if it has one (``L1L2(proximal=True)``), constraints. One
epoch: every training sample once, in mini-batches drawn without replacement, then the
validation set. The ``Trainer`` holds all the state of a run, so it can be checkpointed
and resumed mid-epoch.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module, get_rng_state, set_rng_state, to_numpy
from chainrule.backend.checks import Pending, defer_checks, raise_flagged
from chainrule.errors import ArgumentError, CheckpointError, DataError, ShapeError, suggest
from chainrule.nn.module import Module
from chainrule.train.callbacks import Callback, Logs, TerminateOnNaN
from chainrule.train.checkpoint import Checkpointer
from chainrule.train.data_adapter import as_loader, split_validation
from chainrule.train.history import History
from chainrule.train.metrics import DEVICE_HITS, Metric, get_metric
from chainrule.train.progress import ProgressBar
from chainrule.train.strategy import Strategy, get_strategy
from chainrule.train.weights import combine_weights

LossFn = Callable[[Tensor, Tensor], Tensor]

# On a device, the steps whose logs are read back (and the progress bar's refresh): every
# LOG_EVERY-th step of an epoch from its first, and its last.
LOG_EVERY = 10

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
    "rprop": "Rprop",
    "asgd": "ASGD",
    "lbfgs": "LBFGS",
    "newton": "Newton",
}

# What Trainer.state_dict holds; a file without all of them is not a run checkpoint.
_RUN_STATE_KEYS = (
    "model",
    "optimizer",
    "callbacks",
    "history",
    "progress",
    "order",
    "totals",
    "rng",
    "generators",
)


def get_loss(spec: str | LossFn) -> LossFn:
    """A loss function from a name in ``LOSSES`` or a callable ``loss(outputs, targets)``."""
    if callable(spec):
        return spec
    if spec not in LOSSES:
        raise ArgumentError(
            f"unknown loss {spec!r}{suggest(spec, LOSSES)}; expected one of {sorted(LOSSES)} "
            "or a function"
        )
    from chainrule import functional

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
    from chainrule import optim

    return getattr(optim, OPTIMIZERS[spec.lower()])(model.parameters())


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
        self._weighs = {name: _takes_sample_weight(metric) for name, metric in self.metrics}
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
        self._order: Any = None
        self._totals: dict[str, Any] = {}  # floats; on a device, device scalars until read
        self._deferred_checks: Pending = []
        self.log_every = LOG_EVERY
        self.step_loss: Any = None  # on a device: the last step's loss, unread
        self._progress: ProgressBar | None = None
        self._loader: Any = None
        self.checkpointer: Checkpointer | None = None

    # ---------------------------------------------------------------- running
    def fit(
        self,
        train_data: Any,
        *,
        epochs: int,
        batch_size: int = 32,
        validation_data: Any = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        transform: Callable[[Any], Any] | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        sample_weight: Any = None,
        class_weight: Any = None,
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
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ArgumentError(f"epochs must be a positive integer; got epochs={epochs!r}")
        train_data = _weighted_data(train_data, sample_weight, class_weight)
        if validation_split:
            if validation_data is not None:
                raise ArgumentError("give validation_data or validation_split, not both")
            train_data, validation_data = split_validation(train_data, validation_split)
        loader = as_loader(
            train_data, batch_size, shuffle=shuffle, transform=transform, role="training"
        )
        val_loader = (
            as_loader(validation_data, batch_size, shuffle=False, role="validation")
            if validation_data is not None
            else None
        )
        loader = self.strategy.distribute(loader, training=True)
        if val_loader is not None:
            val_loader = self.strategy.distribute(val_loader, training=False)
        self.batches_per_epoch = len(loader)
        self._preflight(loader)
        self._loader = loader
        if checkpoint_dir is not None:
            self.checkpointer = Checkpointer(checkpoint_dir, checkpoint_every)
        elif resume or checkpoint_every:
            raise ArgumentError("resume and checkpoint_every need a checkpoint_dir")
        self.stop_training = self.abandon_epoch = False
        self.stop_reason = None
        self.strategy.setup(self.model)
        if resume:
            state, path = self.strategy.on_writer(
                lambda: self.checkpointer.load_latest(self.check_fits)
            )
            self.load_state_dict(state)
            self.log(f"resumed from {path} (at epoch {self.epoch + 1}, batch {self.batch})")

        callbacks = [c for c in self.callbacks if self.strategy.is_writer or not c.writes_files]
        if self.verbose and self.strategy.is_writer:
            self._progress = ProgressBar(epochs, self.verbose)
            callbacks.append(self._progress)
        for cb in callbacks:
            cb.set_trainer(self)
        resumed = self._pending_callback_state
        for cb in callbacks:
            cb.on_train_begin()
        if resumed is not None:
            for cb, state in zip(self.callbacks, resumed):
                cb.load_state_dict(state)
            self._pending_callback_state = None
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(loader, val_loader, callbacks)
        except Exception as error:
            self.strategy.fail(error)  # under MPI: end every process now, not at a timeout
            raise
        finally:
            if self.stop_reason:
                self.history.stop_reason = self.stop_reason
                self.log(self.stop_reason)
            for cb in callbacks:
                cb.on_train_end()
            self._progress = None
        return self.history

    _pending_callback_state: list[dict[str, Any]] | None = None

    def _run_epoch(self, loader: Any, val_loader: Any, callbacks: list[Callback]) -> None:
        epoch = self.epoch
        if self.batch == 0:
            self._order = loader.epoch_order()
            self._totals = {"loss": 0.0, "count": 0.0, **{name: 0.0 for name, _ in self.metrics}}
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        self.model.train()
        for batch in loader.iterate(self._order, start=self.batch):
            for cb in callbacks:
                cb.on_batch_begin(self.batch)
            logs = self.train_step(*batch)
            self.batch += 1
            self.global_step += 1
            for cb in callbacks:
                cb.on_batch_end(self.batch - 1, logs)
            if self.stop_training and self.abandon_epoch:
                return
            self.after_step()
        logs = self.running_logs()
        if self.regularizer is not None:
            logs["penalty"] = self._totals.get("penalty", 0.0) / max(self._totals["count"], 1)
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.history.append(epoch, logs)
        self.epoch += 1
        self.batch = 0
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        self.after_epoch()

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
        rng_by_rank = self.strategy.all_gather(get_rng_state())
        if self.strategy.is_writer:
            state = self.state_dict()  # only the writer runs the file-writing callbacks
            if len(rng_by_rank) > 1:
                state["rng_by_rank"] = rng_by_rank
            self.checkpointer.save(state, self.global_step)

    # ------------------------------------------------------------ run state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: see ``train.checkpoint``."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": self.history.state_dict(),
            "progress": {
                "epoch": self.epoch,
                "batch": self.batch,
                "global_step": self.global_step,
                "stop_training": self.stop_training,
                "stop_reason": self.stop_reason,
            },
            "order": self._order if self.batch else None,
            "totals": self._host_totals(),
            "rng": get_rng_state(),
            "generators": [g.bit_generator.state for g in self._own_generators()],
        }

    def _host_totals(self) -> dict[str, float]:
        """The epoch's running sums as floats (read back from a device if need be)."""
        if self._device_totals():
            self._fetch([])
        return dict(self._totals)

    def _own_generators(self) -> list[np.random.Generator]:
        """The generators besides the library's that this run draws from: the loader's,
        its transforms' (through ``Compose``) and the model's layers', in that order."""
        found: list[np.random.Generator] = []

        def visit(obj: Any) -> None:
            generator = getattr(obj, "generator", None)
            if isinstance(generator, np.random.Generator) and not any(
                generator is g for g in found
            ):
                found.append(generator)
            for inner in getattr(obj, "transforms", None) or ():
                visit(inner)

        visit(self._loader)
        visit(getattr(self._loader, "transform", None))
        for module in self.model.modules():
            visit(module)
        return found

    def check_fits(self, state: Any) -> None:
        """Refuse, changing nothing, a ``state`` that is not a checkpoint of this run: keys,
        the model's parameter names and shapes, the numbers of callbacks and generators."""
        if not isinstance(state, dict):
            raise CheckpointError(f"not a run checkpoint: it holds a {type(state).__name__}")
        missing = sorted(set(_RUN_STATE_KEYS) - set(state))
        if missing:
            raise CheckpointError(
                f"not a run checkpoint (it lacks {', '.join(missing)}): resume needs a file "
                "that Trainer.state_dict wrote, not a model's weights"
            )
        own = self.model.state_dict()
        model = state["model"]
        if not isinstance(model, dict):
            raise CheckpointError(f"its model state is a {type(model).__name__}, not a dict")
        misfits = sorted(set(own) ^ set(model)) + [
            f"{k}: {tuple(np.shape(model[k]))} here {tuple(own[k].shape)}"
            for k in own
            if k in model and tuple(np.shape(model[k])) != tuple(own[k].shape)
        ]
        if misfits:
            raise CheckpointError(
                f"its model does not fit this one ({len(misfits)} keys or shapes differ: "
                f"{'; '.join(misfits[:4])})"
            )
        if not isinstance(state["callbacks"], list) or len(state["callbacks"]) != len(
            self.callbacks
        ):
            raise CheckpointError(
                f"the checkpoint has {len(state['callbacks'])} callback states but this trainer "
                f"has {len(self.callbacks)} callbacks; resume with the same callbacks"
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_fits(state)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._pending_callback_state = state["callbacks"]  # loaded after on_train_begin resets them
        self.history.load_state_dict(state["history"])
        progress = state["progress"]
        self.epoch, self.batch, self.global_step = (
            progress["epoch"],
            progress["batch"],
            progress["global_step"],
        )
        self.stop_training, self.stop_reason = progress["stop_training"], progress["stop_reason"]
        self._order = state["order"]
        self._totals = {k: float(v) for k, v in state["totals"].items()}
        by_rank = state.get("rng_by_rank")  # saved by a distributed run: each process its own
        same_world = by_rank is not None and len(by_rank) == self.strategy.world_size
        set_rng_state(by_rank[self.strategy.rank] if same_world else state["rng"])
        generators = self._own_generators()
        if len(generators) != len(state["generators"]):
            raise CheckpointError(
                f"the checkpoint holds the states of {len(state['generators'])} private random "
                f"generator(s) but this run has {len(generators)} (loader, transforms, layers); "
                "resume with the same data pipeline and model"
            )
        for generator, generator_state in zip(generators, state["generators"]):
            generator.bit_generator.state = generator_state

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
            x, y = self._to_model_device(x, y)
        else:
            x, y, sample_weight = self._to_model_device(x, y, sample_weight)
        if x.device == "cpu":
            out, loss, penalty = self._forward_backward(x, y, sample_weight)
        else:
            with defer_checks(self._deferred_checks):
                out, loss, penalty = self._forward_backward(x, y, sample_weight)

        n = len(x)
        if x.device == "cpu":
            stats = {"count": float(n), "loss": float(loss.item()) * n}
            if self.regularizer is not None:
                stats["penalty"] = float(penalty.item()) * n
            if self.metrics:
                outputs, targets = out.numpy(), y.numpy()
                weight = None if sample_weight is None else sample_weight.numpy()
                if weight is not None:
                    stats["weight"] = float(weight.sum())
                for name, metric in self.metrics:
                    stats[name] = self._metric_sum(name, metric, outputs, targets, weight)
        else:
            stats = self._device_stats(n, out, y, loss, penalty, sample_weight)
        stats = self.strategy.sync(self.model, stats)

        if self.clip_grad_norm is not None:
            from chainrule.nn.utils import clip_grad_norm_

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

        for name, value in stats.items():
            self._totals[name] = self._totals.get(name, 0.0) + value
        if x.device == "cpu":
            return self._averages(stats)
        self.step_loss = loss.data
        return self._read_back(stats)

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

    def _device_stats(
        self,
        n: int,
        out: Tensor,
        y: Tensor,
        loss: Tensor,
        penalty: Tensor | None,
        sample_weight: Tensor | None,
    ) -> dict[str, Any]:
        """The step's statistics as device scalars (float64), nothing read back; a metric
        without a device version (``metrics.DEVICE_HITS``) copies outputs and targets."""
        stats: dict[str, Any] = {"count": float(n), "loss": loss.data.astype("float64") * n}
        if penalty is not None:
            stats["penalty"] = penalty.data.astype("float64") * n
        if not self.metrics:
            return stats
        weight = None if sample_weight is None else sample_weight.data.astype("float64")
        if weight is not None:
            stats["weight"] = weight.sum()
        host: Any = None
        for name, metric in self.metrics:
            hits = DEVICE_HITS.get(metric)
            weighs = weight is not None and self._weighs[name]
            if hits is not None:
                found = hits(out.data, y.data)
                stats[name] = (found * weight).sum() if weighs else found.sum(dtype="float64")
                continue
            if host is None:
                host = (out.numpy(), y.numpy(), None if weight is None else to_numpy(weight))
            stats[name] = self._metric_sum(name, metric, *host)
        return stats

    def _read_back(self, stats: dict[str, Any]) -> Logs:
        """On a device, every ``log_every`` steps and at the epoch's last: the step's logs,
        read back in one copy with the totals and the deferred checks; else ``{}``."""
        if self.batch % self.log_every and self.batch + 1 < self.batches_per_epoch:
            return {}
        step = {k: v for k, v in stats.items() if not isinstance(v, Real)}
        values = self._fetch(list(step.values()))
        return self._averages({**stats, **dict(zip(step, values))})

    def _device_totals(self) -> dict[str, Any]:
        """The running sums still on a device (the others are host numbers)."""
        return {k: v for k, v in self._totals.items() if not isinstance(v, Real)}

    def _fetch(self, step_values: list[Any]) -> list[float]:
        """``step_values`` (device scalars), the totals still on the device and the flags
        of the deferred checks, in one copy: the totals become floats, a set flag raises
        its error; returns ``step_values`` as floats."""
        totals = self._device_totals()
        flags = [flag for flag, _ in self._deferred_checks]
        everything = [*step_values, *totals.values(), *flags]
        if not everything:
            return []
        xp = get_array_module(everything[0])
        host = to_numpy(xp.stack([xp.asarray(v, dtype="float64") for v in everything])).tolist()
        k = len(step_values)
        self._totals.update(zip(totals, host[k : k + len(totals)]))
        raise_flagged(self._deferred_checks, host[k + len(totals) :])
        return host[:k]

    def running_logs(self) -> Logs:
        """The epoch's averages so far: loss and metrics, weighted by batch size (on a
        device, read back in one copy if they are not yet)."""
        if self._deferred_checks or self._device_totals():
            self._fetch([])
        return self._averages(self._totals)

    def _metric_sum(
        self, name: str, metric: Metric, outputs: Any, targets: Any, weight: Any
    ) -> float:
        """The metric times its denominator: the total weight if it weighs, else the count."""
        if weight is None or not self._weighs[name]:
            return metric(outputs, targets) * len(outputs)
        total = float(weight.sum())
        return metric(outputs, targets, sample_weight=weight) * total if total > 0 else 0.0

    def _averages(self, sums: dict[str, float]) -> Logs:
        """Sums of statistics -> means: per sample, or per unit of weight for weighted metrics."""
        logs = {}
        for name, value in sums.items():
            if name in ("count", "penalty", "weight"):
                continue
            weighted = "weight" in sums and self._weighs.get(name, False)
            denominator = sums["weight"] if weighted else max(sums.get("count", 0.0), 1.0)
            logs[name] = value / denominator if denominator > 0 else 0.0
        return logs

    def evaluate(self, data: Any, batch_size: int = 256) -> Logs:
        """Loss and metrics over a whole data set, in eval mode, without a graph."""
        loader = (
            data
            if hasattr(data, "iterate")
            else as_loader(data, batch_size, shuffle=False, role="evaluation")
        )
        loader = self.strategy.distribute(loader, training=False)
        outputs, targets, weights, loss_sum, count = [], [], [], 0.0, 0.0
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                for batch in loader.iterate(loader.epoch_order(), start=0):
                    x, y, *weight = self._to_model_device(*batch)
                    out = self.model(x)
                    if not weight:  # the mean loss times the batch's count
                        loss_sum += float(self.loss_fn(out, y).item()) * len(x)
                        count += len(x)
                    else:  # the weighted mean loss times the batch's total weight
                        if not weights:
                            _check_weighted_loss(self.loss_fn)
                        total = float(weight[0].sum().item())
                        if total > 0:
                            value = self.loss_fn(out, y, sample_weight=weight[0]).item()
                            loss_sum += float(value) * total
                        count += total
                        weights.append(weight[0].numpy())
                    if self.metrics:
                        outputs.append(out.numpy())
                        targets.append(y.numpy())
        finally:
            self.model.train(was_training)
        parts = self.strategy.all_gather((loss_sum, count, outputs, targets, weights))
        loss_sum, count = sum(part[0] for part in parts), sum(part[1] for part in parts)
        outputs = [o for part in parts for o in part[2]]
        targets = [t for part in parts for t in part[3]]
        weights = [w for part in parts for w in part[4]]
        logs = {"loss": loss_sum / count if count > 0 else math.nan}
        if self.metrics:
            all_outputs, all_targets = np.concatenate(outputs), np.concatenate(targets)
            all_weights = np.concatenate(weights) if weights else None
            for name, metric in self.metrics:
                if all_weights is not None and self._weighs[name]:
                    logs[name] = metric(all_outputs, all_targets, sample_weight=all_weights)
                else:
                    logs[name] = metric(all_outputs, all_targets)
        return logs

    # ---------------------------------------------------------------- checks
    def _preflight(self, loader: Any) -> None:
        """Run two samples through the model and the loss before training starts, so a
        wrong input shape or label range fails now, with a message, not deep in epoch 1."""
        x, y, *weight = loader.peek(2)
        if weight:
            _check_weighted_loss(self.loss_fn)
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                try:
                    out = self.model(x)
                except ShapeError as error:
                    raise ShapeError(
                        f"the model cannot take the training inputs (samples of shape {tuple(x.shape[1:])}): {error}"
                    ) from None
                labels = loader.labels()
                if (
                    labels is not None
                    and out.ndim == 2
                    and out.shape[1] > 1
                    and labels.dtype.kind in "iu"
                    and labels.ndim == 1
                ):
                    low, high = int(labels.min()), int(labels.max())
                    if low < 0 or high >= out.shape[1]:
                        raise DataError(
                            f"labels must lie in [0, {out.shape[1]}) for a model with {out.shape[1]} outputs; "
                            f"found labels from {low} to {high}"
                        )
                self.loss_fn(out, y)
        finally:
            self.model.train(was_training)

    def _to_model_device(self, *batch: Tensor) -> tuple[Tensor, ...]:
        """The batch's tensors on the device of the model's parameters (data is loaded on the host)."""
        first = next(self.model.parameters(), None)
        device = first.device if first is not None else "cpu"
        return tuple(t if t.device == device else t.to(device) for t in batch)

    def log(self, message: str) -> None:
        if not self.verbose or not self.strategy.is_writer:
            return
        if self._progress is not None:
            self._progress.write(message)
        else:
            print(message)


def fit(
    model: Module,
    train_data: Any,
    *,
    loss: str | LossFn,
    optimizer: Any,
    epochs: int,
    batch_size: int = 32,
    validation_data: Any = None,
    validation_split: float = 0.0,
    metrics: Sequence[str | Metric] = (),
    callbacks: Sequence[Callback] = (),
    regularizer: Callable[[Module], Tensor] | None = None,
    clip_grad_norm: float | None = None,
    constraints: Sequence[Callable[[Module], Any]] = (),
    shuffle: bool = True,
    transform: Callable[[Any], Any] | None = None,
    verbose: int = 1,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    strategy: Strategy | str | None = None,
    sample_weight: Any = None,
    class_weight: Any = None,
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


def evaluate(
    model: Module,
    data: Any,
    *,
    loss: str | LossFn,
    metrics: Sequence[str | Metric] = ("accuracy",),
    batch_size: int = 256,
    sample_weight: Any = None,
) -> Logs:
    """Loss and metrics of ``model`` on ``data`` ((x, y) arrays, (x, y, sample_weight), a
    Dataset or a DataLoader); with weights, the weighted mean loss and weighted metrics."""
    trainer = Trainer(model, loss=loss, optimizer=_NoOptimizer(), metrics=metrics, verbose=0)
    if sample_weight is not None:
        if not (isinstance(data, tuple | list) and len(data) == 2):
            raise ArgumentError("evaluate: sample_weight needs data as (x, y) arrays")
        data = (data[0], data[1], sample_weight)
    return trainer.evaluate(data, batch_size)


def predict(model: Module, x: Any, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for inputs ``x`` (N, ...) as a NumPy array, in eval mode."""
    loader = as_loader((x, None), batch_size, shuffle=False, role="prediction")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [model(batch[0]).numpy() for batch in loader.iterate(loader.epoch_order())]
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def predict_proba(model: Module, x: Any, batch_size: int = 256) -> np.ndarray:
    """Class probabilities: softmax of the outputs (N, C), or sigmoid for one output."""
    logits = predict(model, x, batch_size).astype(np.float64)
    if logits.ndim == 2 and logits.shape[1] > 1:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return 1 / (1 + np.exp(-logits))


def _weighted_data(data: Any, sample_weight: Any, class_weight: Any) -> Any:
    """(x, y, weights rescaled to mean 1) when there are weights, else ``data`` unchanged."""
    given = data[2] if isinstance(data, tuple | list) and len(data) == 3 else None
    if sample_weight is None and class_weight is None and given is None:
        return data
    if not isinstance(data, tuple | list) or len(data) not in (2, 3):
        raise ArgumentError(
            "sample_weight and class_weight need the training data as (x, y) arrays; a "
            f"Dataset can yield (x, y, weight) samples itself; got {type(data).__name__}"
        )
    if given is not None and sample_weight is not None:
        raise ArgumentError(
            "give the sample weights in the (x, y, w) data or as sample_weight, not both"
        )
    x, y = data[0], data[1]
    weight = combine_weights(y, len(x), given if given is not None else sample_weight, class_weight)
    return (x, y, weight / weight.mean())


def _takes_sample_weight(function: Any) -> bool:
    """Whether ``function`` has a ``sample_weight`` parameter (or takes any keyword)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters)


def _check_weighted_loss(loss_fn: Any) -> None:
    """Weighted training calls ``loss(out, y, sample_weight=w, reduction="none")``."""
    target = loss_fn.forward if isinstance(loss_fn, Module) else loss_fn
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    if not {"sample_weight", "reduction"} <= set(parameters):
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        raise ArgumentError(
            f"the loss {name} cannot weigh samples: weighted training needs a loss that "
            "takes sample_weight= and reduction= (every loss in chainrule.functional does; "
            "pass it by name)"
        )


class _NoOptimizer:
    """Stands in for an optimiser where only evaluation happens."""

    def __init__(self) -> None:
        self.param_groups: list[dict[str, Any]] = [{"lr": math.nan}]

    def step(self) -> None:
        raise ArgumentError("this trainer only evaluates")
