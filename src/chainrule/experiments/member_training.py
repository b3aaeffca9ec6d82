"""One model of an experiment run, trained: its trainer, callbacks and checkpoints, the
leg that trains it (or resumes it), and the record a run keeps of it (member.json).

``runner.run_experiment`` calls ``train_member`` once for a single run and once per
member of an ensemble.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainrule import functional, nn, optim
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import manual_seed
from chainrule.data.preprocessing import one_hot
from chainrule.diagnose.monitor import Monitor
from chainrule.experiments.config import (
    ExperimentConfig,
    RegularizationConfig,
    ScheduleConfig,
)
from chainrule.experiments.data_prep import (
    NormalizedSamples,
    PreparedData,
)
from chainrule.experiments.layers import build_model
from chainrule.experiments.parse import SCHEDULES
from chainrule.experiments.report import to_json
from chainrule.experiments.transfer import apply_transfer, describe
from chainrule.train import callbacks as cb
from chainrule.train.distill import Distiller
from chainrule.train.history import History
from chainrule.train.loop import Trainer
from chainrule.train.metrics import get_metric
from chainrule.train.model_file import save as save_model
from chainrule.train.serialization import atomic_write_text, load, save
from chainrule.train.strategy import Strategy
from chainrule.train.weights import class_sample_weight


@dataclass
class Member:
    directory: Path
    model: nn.Sequential  # the trained model (under distillation: the student)
    history: History
    seed: int
    best_epoch: int | None  # 1-based; None when the final weights are reported
    weights: str
    training_time: float  # seconds of training, every leg (an earlier call's, if one finished it)
    resumed: bool  # whether that leg started from a run checkpoint
    time_partial: bool = False  # resumed from a checkpoint without the earlier legs' time
    test_accuracy: float = math.nan
    transfer: dict[str, Any] | None = None  # what [transfer] reused and froze


def experiment_loss(config: ExperimentConfig, smoothing: bool = True) -> Any:
    """The training loss (``smoothing=False``: the plain loss, to report on the test set)."""
    training = config.training
    if training.loss == "mse":
        classes = config.data.num_classes

        def mse_on_one_hot(
            outputs: Tensor,
            targets: Tensor,
            reduction: str = "mean",
            sample_weight: TensorLike | None = None,
        ) -> Tensor:
            one_hot_targets = Tensor(one_hot(targets.numpy(), classes))
            return functional.mse_loss(outputs, one_hot_targets, reduction, sample_weight)

        return mse_on_one_hot
    if smoothing and training.label_smoothing:
        return functools.partial(functional.cross_entropy, label_smoothing=training.label_smoothing)
    return functional.cross_entropy


def build_regularizer(reg: RegularizationConfig) -> nn.L1L2 | None:
    """The [regularization] section's penalty, or None when l1 and l2 are both 0."""
    if not (reg.l1 or reg.l2):
        return None
    return nn.L1L2(reg.l1, reg.l2, proximal=reg.l1_proximal)


def weighted_samples(train: NormalizedSamples, class_weight: Any) -> NormalizedSamples:
    """The training samples with a third field, their class's weight (rescaled to mean 1,
    as ``fit`` does), when the experiment sets ``training.class_weight``."""
    if class_weight is None:
        return train
    x, y = train.arrays[:2]
    weight = class_sample_weight(y, class_weight)
    return NormalizedSamples(x, y, train.normalize, weight / weight.mean())


def schedule_callback(schedule: ScheduleConfig, optimizer: Any) -> cb.Callback:
    cls = SCHEDULES[schedule.name]
    if cls is cb.ReduceLROnPlateau:
        return cls(**schedule.args)
    return cb.LearningRateScheduler(cls(optimizer, **schedule.args), interval=schedule.interval)


def selection_monitor(config: ExperimentConfig) -> str:
    """What picks the best epoch: early stopping's validation monitor, else val_accuracy."""
    stopping = config.training.early_stopping
    if stopping is not None and stopping.monitor.startswith("val_"):
        return stopping.monitor
    names = [get_metric(m)[0] for m in config.training.metrics]
    return "val_accuracy" if "accuracy" in names else "val_loss"


def first_best(history: History, monitor: str) -> int | None:
    """The first epoch (1-based) with the best ``monitor``, as ModelCheckpoint keeps it."""
    values = [v for v in history.history.get(monitor, []) if not math.isnan(v)]
    if not values:
        return None
    best = (min if cb._resolve_mode("auto", monitor) == "min" else max)(values)
    return history[monitor].index(best) + 1


def early_stopping(config: ExperimentConfig) -> cb.EarlyStopping | None:
    """The [training.early_stopping] callback, or None when the config has none."""
    stopping = config.training.early_stopping
    if stopping is None:
        return None
    return cb.EarlyStopping(
        monitor=stopping.monitor,
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        restore_best_weights=stopping.restore_best_weights,
    )


def train_member(
    config: ExperimentConfig,
    data: PreparedData,
    directory: Path,
    seed: int,
    resume: bool,
    verbose: int,
    strategy: Strategy,
) -> Member:
    manual_seed(seed)
    model = build_model(config)
    transfer = apply_transfer(model, config) if config.transfer is not None else None
    if transfer is not None:
        if verbose:
            print(describe(transfer))
        if strategy.is_writer:
            atomic_write_text(directory / "transfer.json", to_json(transfer) + "\n")
    if verbose:
        model.summary(config.data.input_shape)
    trained: nn.Module = model
    loss = experiment_loss(config)
    if config.distillation is not None:  # the model learns as a Distiller's student
        distillation = config.distillation
        from chainrule.experiments.runner import load_run  # cycle: runner imports this module

        teachers = load_run(distillation.teacher)
        distiller = Distiller(model, teachers, distillation.temperature, distillation.alpha)
        trained, loss = distiller, distiller.loss
        if verbose:
            print(
                f"distillation from {distillation.teacher} ({len(teachers)} model(s)), "
                f"T = {distillation.temperature:g}, alpha = {distillation.alpha:g}"
            )
    optimizer = optim.get(config.optimizer.name, trained.parameters(), **config.optimizer.args)
    checkpoints = directory / "checkpoints"
    held_out = config.data.validation != "test"
    monitor = selection_monitor(config)
    # ModelCheckpoint formats its path with the epoch's logs: braces in a path are literal
    literal = str(checkpoints).replace("{", "{{").replace("}", "}}")
    callbacks: list[cb.Callback] = [
        Monitor(run_dir=directory),  # per-layer statistics for `chainrule doctor`
        cb.CSVLogger(directory / "history.csv"),
        cb.ModelCheckpoint(f"{literal}/last.npz"),
    ]
    if held_out:
        callbacks.append(
            cb.ModelCheckpoint(f"{literal}/best.npz", monitor=monitor, save_best_only=True)
        )
    stopping = early_stopping(config)
    if stopping is not None:
        callbacks.append(stopping)
    if config.schedule is not None:
        callbacks.append(schedule_callback(config.schedule, optimizer))
    reg = config.regularization
    trainer = Trainer(
        trained,
        loss=loss,
        optimizer=optimizer,
        metrics=config.training.metrics,
        callbacks=callbacks,
        regularizer=build_regularizer(reg),
        clip_grad_norm=reg.clip_grad_norm,
        constraints=[nn.MaxNorm(reg.max_norm)] if reg.max_norm is not None else [],
        verbose=verbose,
        strategy=strategy,
    )
    run_state = checkpoints / "run"
    # else this one starts afresh; rank 0 looks, as the others may not see the directory
    resume = resume and strategy.on_writer(lambda: any(run_state.glob("step-*.npz")))
    history = trainer.fit(
        weighted_samples(data.train, config.training.class_weights),
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        validation_data=data.validation,
        transform=data.train_transform,
        checkpoint_dir=run_state,
        checkpoint_every=config.training.checkpoint_every,
        resume=resume,
    )
    if transfer is not None and config.transfer is not None and config.transfer.fine_tune_epochs:
        model.unfreeze()  # the fine-tuning phase: every layer learns, at a lower rate
        for group in optimizer.param_groups:
            group["lr"] = config.transfer.fine_tune_lr
        if verbose:
            print(describe(transfer).splitlines()[-1].strip())
        history = trainer.fit(
            data.train,
            epochs=config.training.epochs + config.transfer.fine_tune_epochs,
            batch_size=config.training.batch_size,
            validation_data=data.validation,
            transform=data.train_transform,
            checkpoint_dir=run_state,
            checkpoint_every=config.training.checkpoint_every,
        )
    # the checkpoints carry the time of earlier legs (those written before they did: not)
    training_time, resumed = trainer.training_seconds, resume
    time_partial = trainer.training_seconds_partial
    record = directory / "member.json"
    if resume and record.is_file():  # finished before: keep the record of the leg that did it
        previous = json.loads(record.read_text())
        if previous.get("epochs_run") == len(history):
            training_time = previous.get("training_time_s", training_time)
            resumed = previous.get("resumed", False)
            time_partial = previous.get("training_time_partial", resumed)
    best_path = checkpoints / "best.npz"
    best_epoch = first_best(history, monitor) if held_out else None
    # rank 0 wrote the checkpoints; under MPI it sends the best weights to the others
    best = strategy.on_writer(lambda: load(best_path) if held_out and best_path.is_file() else None)
    if best is not None:
        model.load_state_dict(best)
        weights = f"best {monitor} on the held-out validation set: epoch {best_epoch}"
    else:
        if strategy.is_writer:
            save(model.state_dict(), best_path)
        best_epoch = None
        weights = "the weights at the end of training"
        restored = next((c for c in callbacks if isinstance(c, cb.EarlyStopping)), None)
        if (
            restored is not None
            and restored.restore_best_weights
            and restored.best_epoch is not None
        ):
            weights += f" (early stopping restored those of epoch {restored.best_epoch + 1})"
        if not held_out:
            weights += "; the validation data is the test set, so it selected nothing"
    if strategy.is_writer:
        save_model(model.eval(), directory / "model.npz")
    return Member(
        directory,
        model,
        history,
        seed,
        best_epoch,
        weights,
        training_time,
        resumed,
        time_partial,
        transfer=transfer,
    )


def member_metrics(m: Member) -> dict[str, Any]:
    return {
        "seed": m.seed,
        "epochs_run": len(m.history),
        "best_epoch": m.best_epoch,
        "weights": m.weights,
        "stop_reason": m.history.stop_reason,
        "test_accuracy": m.test_accuracy,
        "training_time_s": round(m.training_time, 3),
        "resumed": m.resumed,
        "training_time_partial": m.time_partial,
    }
