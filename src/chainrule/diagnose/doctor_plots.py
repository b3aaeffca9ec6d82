"""The doctor's pictures as PNG files: gradient norms per layer, learning curves, lr range test.

matplotlib is imported only here, when a plot is drawn, and only its object-oriented
API (a ``Figure`` on the Agg canvas): the user's pyplot backend is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chainrule.viz.plots import integer_epochs


def _figure(width: float = 7.0, height: float = 4.5) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional: matplotlib
        from matplotlib.figure import Figure  # optional: matplotlib
    except ImportError as error:
        raise ImportError(
            'plots need matplotlib, which is not installed; pip install "chainrule[plot]"'
        ) from error
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_gradient_norms(diagnostics: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Per-layer gradient norm over epochs, on a log scale, one line per layer (first to last)."""
    figure = _figure()
    axes = figure.add_subplot()
    epochs = diagnostics["epochs"]
    for layer in diagnostics["layers"]:
        series = diagnostics["stats"].get(layer["name"], {}).get("grad_norm")
        if series:
            label = f"{layer['name'] or 'model'} ({layer['type']})"
            x = [e + 1 for e in epochs[: len(series)]]  # epochs are numbered from 1, as printed
            axes.plot(x, series, marker="o", markersize=3, label=label)
    axes.set_yscale("log")
    integer_epochs(axes, len(epochs))
    axes.set_xlabel("epoch")
    axes.set_ylabel("gradient norm ||dL/dW|| (mean over sampled steps)")
    axes.set_title("Gradient norm per layer")
    axes.grid(True, which="both", alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=8)
    return _save(figure, path)


def plot_learning_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str]
) -> Path:
    """Training and validation loss (and accuracy, when logged) against the epoch."""
    panels = [
        keys for keys in (("loss", "val_loss"), ("accuracy", "val_accuracy")) if keys[0] in history
    ]
    figure = _figure(7.0, 3.5 * max(len(panels), 1))
    for i, keys in enumerate(panels):
        axes = figure.add_subplot(len(panels), 1, i + 1)
        for key in keys:
            if key in history:
                axes.plot(
                    range(1, len(history[key]) + 1),
                    history[key],
                    marker="o",
                    markersize=3,
                    label=key,
                )
        axes.set_xlabel("epoch")
        axes.set_ylabel(keys[0])
        axes.set_title(
            f"{'Loss' if keys[0] == 'loss' else 'Accuracy'} per epoch: training and validation"
        )
        integer_epochs(axes, len(history[keys[0]]))
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    return _save(figure, path)


def plot_lr_find(
    lrs: Sequence[float], losses: Sequence[float], suggestion: float, path: str | os.PathLike[str]
) -> Path:
    """Smoothed loss against the learning rate (log scale), the suggestion marked."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(lrs, losses)
    axes.axvline(
        suggestion, color="tab:red", linestyle="--", label=f"suggested lr {suggestion:.3g}"
    )
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss (smoothed)")
    axes.set_title("Learning-rate range test")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)
