"""``[autoencoder]`` runs: ``[model]`` is the encoder, trained under a decoder to give back
its inputs, without labels (``mnist-autoencoder``).

The run directory holds config.toml, history.csv, checkpoints/last.npz and best.npz (the
whole autoencoder: ``encoder.*`` and ``decoder.*``), metrics.json (the test
reconstruction error) and, with matplotlib, loss.png, reconstructions.png (test inputs
above their reconstructions) and features.png (what each first-layer unit responds to).
A later experiment reuses the encoder with ``[transfer] from = "<this run>"``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn, optim
from chainrule.backend import manual_seed
from chainrule.experiments.config import ExperimentConfig
from chainrule.experiments.data_prep import NormalizedSamples, prepare_data
from chainrule.experiments.layers import build_layers
from chainrule.experiments.member_training import early_stopping
from chainrule.experiments.report import machine, to_json
from chainrule.experiments.runner import RunResult, _open_run_dir, _version
from chainrule.experiments.schema import ConfigError
from chainrule.train import callbacks as cb
from chainrule.train.evaluation import predict
from chainrule.train.loop import Trainer
from chainrule.train.serialization import atomic_write_text, save
from chainrule.viz import plots


class Reconstruction(NormalizedSamples):
    """Normalised inputs paired with themselves, flattened, as the targets: (x, x.flat)."""

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        x, _ = super().__getitem__(index)
        batch = np.ndim(index) > 0 or isinstance(index, slice)
        return x, x.reshape(len(x), -1) if batch else x.reshape(-1)


def build_autoencoder(config: ExperimentConfig) -> nn.Autoencoder:
    """``[model]`` as the encoder and ``autoencoder.decoder`` after it; the decoder must
    give back as many values as an input has."""
    if config.autoencoder is None:
        raise ConfigError(f"{config.name!r} has no [autoencoder] table")
    data = config.data
    encoder, code = build_layers(config.model.layers, data.input_shape, data.flatten)
    decoder, out = build_layers(config.autoencoder.decoder, code, path="autoencoder.decoder")
    size = math.prod(data.input_shape)
    if math.prod(out) != size:
        raise ConfigError(
            f"autoencoder.decoder: gives outputs of shape (N, {', '.join(map(str, out))}), "
            f'but an input has {size} values; end with {{type = "linear", out = {size}}}'
        )
    return nn.Autoencoder(encoder, decoder, config.autoencoder.noise, config.autoencoder.corruption)


def run_autoencoder(
    config: ExperimentConfig, run_dir: Path, epochs: int | None, verbose: int
) -> RunResult:
    """Train and test an ``[autoencoder]`` experiment into ``run_dir``; a ``RunResult``."""
    if epochs is not None:
        config = replace(config, training=replace(config.training, epochs=epochs))
    start = time.perf_counter()
    manual_seed(config.seed)
    model = build_autoencoder(config)
    data = prepare_data(config)
    _open_run_dir(run_dir, config, False)
    if verbose:
        print(f"experiment {config.name}: {config.description}")
        print(f"data: {data.description} (labels unused)")
        print(f"run directory: {run_dir}")
        print(model)
    optimizer = optim.get(config.optimizer.name, model.parameters(), **config.optimizer.args)
    checkpoints = str(run_dir / "checkpoints").replace("{", "{{").replace("}", "}}")
    callbacks: list[cb.Callback] = [
        cb.CSVLogger(run_dir / "history.csv"),
        cb.ModelCheckpoint(f"{checkpoints}/last.npz"),
    ]
    stopping = early_stopping(config)
    if stopping is not None:
        callbacks.append(stopping)
    reg = config.regularization
    trainer = Trainer(
        model,
        loss=nn.reconstruction_loss,
        optimizer=optimizer,
        callbacks=callbacks,
        regularizer=nn.L1L2(reg.l1, reg.l2) if reg.l1 or reg.l2 else None,
        clip_grad_norm=reg.clip_grad_norm,
        constraints=[nn.MaxNorm(reg.max_norm)] if reg.max_norm is not None else [],
        verbose=verbose,
    )
    train = data.train
    x_val = data.validation[0]
    started = time.perf_counter()
    history = trainer.fit(
        Reconstruction(*train.arrays, train.normalize),
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        validation_data=(x_val, x_val.reshape(len(x_val), -1)),
    )
    training_time = time.perf_counter() - started
    save(model.state_dict(), run_dir / "checkpoints" / "best.npz")
    x_test = data.test[0]
    reconstructions = predict(model, x_test)
    error = float(np.mean((reconstructions - x_test.reshape(len(x_test), -1)) ** 2))
    metrics = {
        "experiment": config.name,
        "description": config.description,
        "test": {"loss": error, "reconstruction_mse": error},
        "weights": "the weights at the end of training",
        "epochs_run": len(history),
        "stop_reason": history.stop_reason,
        "data": data.description,
        "training_time_s": round(training_time, 3),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "machine": machine(),
        "chainrule_version": _version(),
    }
    atomic_write_text(run_dir / "metrics.json", to_json(metrics) + "\n")
    images = data.test[0][:, 0] if data.test_images is not None else None  # normalised
    _plots(run_dir, history, model, images, reconstructions)
    return RunResult(run_dir, config, metrics, [history])


def _plots(
    run_dir: Path,
    history: Any,
    model: nn.Autoencoder,
    images: np.ndarray | None,
    reconstructions: np.ndarray,
) -> None:
    try:
        plots.plot_curves(history, "loss", run_dir / "loss.png")
        if images is None:
            return
        shape = images.shape[1:]
        plots.plot_reconstructions(
            images[:10], reconstructions[:10].reshape(-1, *shape), run_dir / "reconstructions.png"
        )
        first = next((m for m in model.encoder if list(m.parameters())), None)
        if isinstance(first, nn.Linear) and first.in_features == math.prod(shape):
            weight = first.weight.numpy()[:64].reshape(-1, 1, *shape)
            plots.plot_filters(weight, run_dir / "features.png")
        elif isinstance(first, nn.Conv2d):
            plots.plot_filters(first.weight.numpy(), run_dir / "features.png")
    except ImportError as error:
        print(f"chainrule: skipped the plots: {error}", file=sys.stderr)
