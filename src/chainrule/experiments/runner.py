"""``run_experiment``: train a config, test it, and write the run directory.

A run directory holds
    config.toml            the resolved config: every value the run used
    history.csv            per epoch: loss, metrics, validation loss and metrics, lr
    model.npz              the reported model, architecture and weights, in eval mode:
                           ``chainrule.load`` rebuilds it with no experiment file
    checkpoints/last.npz   the weights after the last epoch
    checkpoints/best.npz   the weights the run reports (see ``weights`` in metrics.json)
    checkpoints/run/       the whole run state after each epoch (and every checkpoint_every
                           steps), the last three kept: ``resume`` continues from there
    metrics.json           test accuracy and loss, per-class precision / recall, the
                           confusion matrix, epochs run, wall time, machine, version
    (with [distillation] the model trains as a ``train.Distiller``'s student; its
    checkpoints are the student's)
    transfer.json          with [transfer]: the source, the layers reused, frozen and new,
                           the tensors loaded (also under "transfer" in metrics.json)
    *.png                  loss, accuracy, confusion matrix, misclassified test images,
                           first-layer filters of a CNN (with matplotlib)
A run keeps member.json (its test accuracy and training time: every leg's, since the run
checkpoints carry the seconds trained so far), so that resuming a finished run keeps its
record ("training_time_partial": a leg resumed from older checkpoints, without that count)
An ensemble keeps each member's history.csv, model.npz, checkpoints/ and member.json in
members/<i>/; resuming it finishes the member under way
and trains the ones not yet started. ``member=i`` trains member i alone, so that several
processes (or machines sharing the directory) can train the members side by side; a
last call without ``member`` then tests the ensemble.

Which weights are reported: with a held-out validation set, those of the epoch with
the best validation accuracy (Nielsen's protocol); when the validation data is the test
set, the weights at the end of training, so that the test set selects nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import __version__, nn
from chainrule.autograd.tensor import Tensor
from chainrule.backend import fork_rng, manual_seed
from chainrule.ensemble import combine
from chainrule.errors import ChainruleError, CheckpointError, ShapeError
from chainrule.experiments.config import (
    ExperimentConfig,
    to_toml,
)
from chainrule.experiments.data_prep import (
    PreparedData,
    prepare_data,
    with_data_path_used,
)
from chainrule.experiments.layers import build_model
from chainrule.experiments.member_training import (
    experiment_loss,
    member_metrics,
    train_member,
)
from chainrule.experiments.parse import load_config
from chainrule.experiments.report import classification_report, cross_entropy_of, machine, to_json
from chainrule.experiments.schema import ConfigError
from chainrule.train.evaluation import predict
from chainrule.train.history import History
from chainrule.train.metrics import softmax
from chainrule.train.serialization import atomic_write_text, load
from chainrule.train.strategy import Strategy, get_strategy
from chainrule.viz import plots


class RunDirectoryError(ChainruleError, OSError):
    """A run directory that cannot be created, written, or used as asked."""


@dataclass
class RunResult:
    """What ``run_experiment`` returns: where the run is, and what metrics.json holds."""

    run_dir: Path
    config: ExperimentConfig
    metrics: dict[str, Any]
    histories: list[History]
    is_writer: bool = True  # False in the other processes of an mpiexec job

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test"]["accuracy"]


def default_run_dir(name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, with a numeric suffix if that is taken."""
    stem = Path(root) / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    candidate, n = stem, 1
    while candidate.exists():
        n += 1
        candidate = stem.with_name(f"{stem.name}-{n}")
    return candidate


def run_experiment(
    config: ExperimentConfig,
    run_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    resume: bool = False,
    verbose: int = 1,
    member: int | None = None,
    strategy: Strategy | None = None,
) -> RunResult:
    """Train ``config`` (``epochs`` overrides its [training] epochs), test it, write ``run_dir``.

    ``resume`` continues the run in ``run_dir`` (killed, or finished and given more
    ``epochs``) from its newest run checkpoint, as if it had never stopped; ``config``
    must be the run's own but for the epochs, which default to the run's.

    ``member`` (an ensemble only): train and test that member alone, into
    ``run_dir/members/<member>``; the run directory may already hold the same run, whose
    other members are left as they are. The result's metrics are the member's.

    Under mpiexec (``strategy``, default ``get_strategy("mpi")``) MPI starts before
    anything else; rank 0 alone reads and checks the run directory and tells the others,
    and an error in any process aborts the whole job.
    """
    strategy = strategy if strategy is not None else get_strategy("mpi")
    with strategy.abort_on_error():
        return _run_experiment(config, Path(run_dir), epochs, resume, verbose, member, strategy)


def check_member(config: ExperimentConfig, member: int, where: str) -> None:
    """Refuse ``member`` unless ``config`` is an ensemble that has it."""
    count = config.ensemble.members if config.ensemble else 0
    if not 0 <= member < count:
        raise ConfigError(
            f"{where}={member}: "
            + (
                f"{config.name!r} has members 0 to {count - 1}"
                if count
                else f"{config.name!r} is not an ensemble (it has no [ensemble] table)"
            )
        )


def _inspect_run_dir(
    run_dir: Path, config: ExperimentConfig, resume: bool, member: int | None
) -> tuple[bool, int | None]:
    """(resume, the stored run's epochs): read by rank 0 alone, which may be the only
    process that sees the run directory."""
    if member is not None:
        resume = (run_dir / "config.toml").is_file()
    if not resume:
        return False, None
    return True, _check_resumable(run_dir, config).training.epochs


def _run_experiment(
    config: ExperimentConfig,
    run_dir: Path,
    epochs: int | None,
    resume: bool,
    verbose: int,
    member: int | None,
    strategy: Strategy,
) -> RunResult:
    if config.autoencoder is not None:
        if resume or member is not None:
            raise RunDirectoryError(f"{run_dir}: an autoencoder run is not resumed; start it again")
        # cycle: autoencoder.py imports this module
        from chainrule.experiments.autoencoder import run_autoencoder

        return run_autoencoder(config, run_dir, epochs, verbose)
    if member is not None:
        check_member(config, member, "member")
    resume, stored_epochs = strategy.on_writer(
        lambda: _inspect_run_dir(run_dir, config, resume, member)
    )
    if resume and config.transfer is not None and config.transfer.fine_tune_epochs:
        raise RunDirectoryError(
            f"{run_dir}: a run with a fine-tuning phase (transfer.fine_tune_epochs) cannot "
            "be resumed; start it again"
        )
    if resume and epochs is None:
        epochs = stored_epochs
    if epochs is not None:
        config = replace(config, training=replace(config.training, epochs=epochs))
    start = time.perf_counter()
    manual_seed(config.seed)
    build_model(config)  # a model that cannot be built fails before any data loads,
    data = prepare_data(config)  # and data that cannot be loaded before anything is written
    config = with_data_path_used(config)  # config.toml says where the data was found
    writer = strategy.is_writer
    verbose = verbose if writer else 0
    if writer:  # members trained side by side may each be the first to open it
        _open_run_dir(run_dir, config, resume or member is not None)
    data_time = time.perf_counter() - start
    if verbose:
        print(
            f"experiment {config.name}" + (f": {config.description}" if config.description else "")
        )
        print(f"data: {data.description}")
        print(f"run directory: {run_dir}")
    count = config.ensemble.members if config.ensemble else 1
    members = []
    for i in range(count) if member is None else [member]:
        directory = run_dir / "members" / str(i) if config.ensemble else run_dir
        if verbose and config.ensemble:
            print(f"ensemble member {i + 1} of {count} (seed {config.seed + i})")
        members.append(
            train_member(config, data, directory, config.seed + i, resume, verbose, strategy)
        )
    training_time = time.perf_counter() - start - data_time
    if not config.ensemble:  # this leg's training, or the record of the leg that did it
        training_time = members[0].training_time
    report, member_probabilities = _test(config, [m.model for m in members], data)
    y_test = data.test[1]
    for m, p in zip(members, member_probabilities):
        m.test_accuracy = float((p.argmax(axis=1) == y_test).mean())
        if writer:  # a single run's too: resumed once finished, it keeps the leg that trained it
            atomic_write_text(m.directory / "member.json", to_json(member_metrics(m)) + "\n")
    if member is not None:
        return RunResult(run_dir, config, member_metrics(members[0]), [members[0].history], writer)
    metrics = {
        "experiment": config.name,
        "description": config.description,
        "lecture_accuracy_percent": config.lecture_accuracy,
        **report,
        "weights": (
            members[0].weights
            if len(members) == 1
            else f"the average of {len(members)} members' class probabilities"
        ),
        "epochs_run": sum(len(m.history) for m in members),
        "members": [member_metrics(m) for m in members],
        "data": data.description,
        "data_time_s": round(data_time, 3),
        "training_time_s": round(training_time, 3),
        **(
            {"members_training_time_s": round(sum(m.training_time for m in members), 3)}
            if len(members) > 1
            else {}
        ),
        **({"transfer": members[0].transfer} if members[0].transfer else {}),
        "wall_time_s": round(time.perf_counter() - start, 3),  # all but the plots
        "machine": machine(),
        "chainrule_version": _version(),
    }
    if writer:
        atomic_write_text(run_dir / "metrics.json", to_json(metrics) + "\n")
        probabilities = np.mean(member_probabilities, axis=0)
        _plots(
            run_dir, [m.history for m in members], metrics, data, probabilities, members[0].model
        )
    return RunResult(run_dir, config, metrics, [m.history for m in members], writer)


def evaluate_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Reload a run's config and reported weights and test them again: ``test`` metrics,
    ``per_class`` and ``confusion_matrix``, as in its metrics.json."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise RunDirectoryError(f"{run_dir}: not a run directory (it has no config.toml)")
    config = load_config(run_dir / "config.toml")
    if config.autoencoder is not None:
        raise RunDirectoryError(
            f"{run_dir} is an autoencoder run: its metrics.json has the test reconstruction error"
        )
    models = load_run(run_dir)
    directories = _member_directories(run_dir, config)
    warnings = [w for m, d in zip(models, directories) if (w := _non_finite_weights(m, d))]
    report, _ = _test(config, models, prepare_data(config))
    if warnings:
        report["warnings"] = warnings
    return report


def load_run(run_dir: str | os.PathLike[str]) -> list[nn.Sequential]:
    """The trained model of a run directory, with its reported weights, in eval mode: a
    list of one, or of every member of an ensemble (a teacher for ``train.Distiller``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise RunDirectoryError(f"{run_dir}: not a run directory (it has no config.toml)")
    config = load_config(run_dir / "config.toml")
    if config.autoencoder is not None:
        raise RunDirectoryError(
            f"{run_dir} is an autoencoder run; reuse its encoder with [transfer] instead"
        )
    models: list[nn.Sequential] = []
    for directory in _member_directories(run_dir, config):
        # NOTE: forked: a student built before its teachers are loaded keeps its own stream
        with fork_rng(config.seed):
            model = build_model(config)
        weights = directory / "checkpoints" / "best.npz"
        try:
            model.load_state_dict(load(weights))
        except ShapeError as error:
            raise CheckpointError(f"{weights}: does not fit the run's model: {error}") from None
        model.eval()
        models.append(model)
    return models


def _member_directories(run_dir: Path, config: ExperimentConfig) -> list[Path]:
    """Where a run's trained weights are: the run itself, or each ensemble member's folder."""
    if not config.ensemble:
        return [run_dir]
    return [run_dir / "members" / str(i) for i in range(config.ensemble.members)]


def _non_finite_weights(model: Any, directory: Path) -> str | None:
    """A warning naming the layers of ``model`` (loaded from ``directory``) whose weights
    hold NaN or infinity, or None when every weight is finite."""
    bad = {
        name: int((~np.isfinite(p.numpy())).sum())
        for name, p in model.named_parameters()
        if not np.isfinite(p.numpy()).all()
    }
    if not bad:
        return None
    total = sum(p.size for p in model.parameters())
    listing = ", ".join(f"{name} ({count})" for name, count in list(bad.items())[:5])
    return (
        f"{directory / 'checkpoints' / 'best.npz'} holds {sum(bad.values())} non-finite weights "
        f"(NaN or inf) of {total}, in {listing}: the run diverged, and the figures below "
        "measure a broken model"
    )


# ------------------------------------------------------------------ pieces
def _version() -> str:
    return __version__


def _check_resumable(run_dir: Path, config: ExperimentConfig) -> ExperimentConfig:
    """The config of the run in ``run_dir``, which must be ``config`` but for the epochs and
    where the data is read from (``config``'s place wins: the data may have moved)."""
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise RunDirectoryError(f"{run_dir}: nothing to resume (it has no config.toml)")
    stored = load_config(config_path)
    stored = replace(stored, data=replace(stored.data, path=config.data.path or stored.data.path))
    same_but_epochs = replace(
        config,
        data=replace(config.data, path=stored.data.path),
        training=replace(config.training, epochs=stored.training.epochs),
    )
    if same_but_epochs != stored:
        raise RunDirectoryError(
            f"{run_dir} holds a run of {stored.name!r} with another config; resume it with the "
            "same experiment and seed (only --epochs may change)"
        )
    return stored


def _open_run_dir(run_dir: Path, config: ExperimentConfig, resume: bool) -> None:
    """Create ``run_dir`` and write config.toml into it before training, so an unwritable
    directory fails early; a directory that holds a run is only resumed."""
    config_path = run_dir / "config.toml"
    if config_path.exists() and not resume:
        raise RunDirectoryError(f"{run_dir} already holds a run; choose another run directory")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_path, to_toml(config))
    except OSError as error:
        raise RunDirectoryError(
            f"cannot write the run directory {run_dir}: {error.strerror or error}"
        ) from None


def _test(
    config: ExperimentConfig, models: Sequence[nn.Module], data: PreparedData
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The test report and each model's class probabilities; an ensemble averages them
    (and reports the accuracy of a majority vote too)."""
    x_test, y_test = data.test
    outputs = [predict(model, x_test).astype(np.float64) for model in models]
    probabilities = [softmax(o) for o in outputs]
    if len(models) == 1:
        plain = experiment_loss(config, smoothing=False)
        loss = float(plain(Tensor(outputs[0]), Tensor(y_test)).item())
        mean = probabilities[0]
    else:
        mean = np.mean(probabilities, axis=0)
        loss = cross_entropy_of(mean, y_test)
    report = classification_report(mean, y_test, loss, config.data.num_classes)
    if len(models) > 1:  # Nielsen's way: each member votes for its class
        votes = combine(np.stack(probabilities), "vote")
        report["test"]["vote_accuracy"] = float((votes == y_test).mean())
    return report, probabilities


def _plots(
    run_dir: Path,
    histories: list[History],
    metrics: dict[str, Any],
    data: PreparedData,
    probabilities: np.ndarray,
    model: nn.Sequential,
) -> None:
    """The PNGs of the run; without matplotlib, one line saying they were skipped."""
    try:
        plots.plot_curves(histories, "loss", run_dir / "loss.png")
        if any("accuracy" in h for h in histories):
            plots.plot_curves(histories, "accuracy", run_dir / "accuracy.png")
        plots.plot_confusion_matrix(metrics["confusion_matrix"], run_dir / "confusion_matrix.png")
        if data.test_images is not None:
            plots.plot_misclassified(
                data.test_images,
                data.test[1],
                probabilities.argmax(axis=1),
                run_dir / "misclassified.png",
            )
        first = next((layer for layer in model if list(layer.parameters())), None)
        if isinstance(first, nn.Conv2d):
            plots.plot_filters(first.weight.numpy(), run_dir / "filters.png")
    except ImportError as error:
        print(f"chainrule: skipped the plots: {error}", file=sys.stderr)
