"""Plots of a run, written as PNG files: learning curves, confusion matrix, mistakes, filters,
reconstructions.

matplotlib (``pip install "chainrule[plot]"``) is imported when a plot is drawn, and
only its Agg canvas is used: no window opens and pyplot's global state is untouched.
Files are written atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chainrule.train.serialization import atomic_write_bytes

if TYPE_CHECKING:
    from chainrule.train.history import History


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional: matplotlib
        from matplotlib.figure import Figure  # optional: matplotlib
    except ImportError as error:
        raise ImportError('matplotlib is not installed (pip install "chainrule[plot]")') from error
    figure = Figure(figsize=(width, height), dpi=100, layout="tight")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def integer_epochs(axes: Any, count: int) -> None:
    """Epoch ticks at whole numbers from 1, also for a run of one or two epochs."""
    from matplotlib.ticker import MaxNLocator  # optional: matplotlib

    if count <= 10:
        axes.set_xticks(range(1, count + 1))
        axes.set_xlim(0.5, count + 0.5)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_curves(
    histories: History | Sequence[History],
    key: str,
    path: str | os.PathLike[str],
    title: str | None = None,
) -> None:
    """``key`` and ``val_<key>`` per epoch: training and validation in two colours; several
    histories (ensemble members 0, 1, ..., as the console numbers them): a colour each,
    validation dashed."""
    histories = list(histories) if isinstance(histories, Sequence) else [histories]
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    single = len(histories) == 1
    for i, history in enumerate(histories):
        suffix = "" if single else f" (member {i})"
        train_colour, val_colour = ("C0", "C1") if single else (f"C{i % 10}", f"C{i % 10}")
        epochs = [e + 1 for e in history.epoch]
        if key in history:
            axes.plot(
                epochs,
                history[key],
                color=train_colour,
                marker="o",
                ms=4,
                label=f"training{suffix}",
            )
        if f"val_{key}" in history:
            axes.plot(
                epochs,
                history[f"val_{key}"],
                color=val_colour,
                ls="--",
                marker="s",
                ms=4,
                label=f"validation{suffix}",
            )
    axes.set_xlabel("epoch")
    integer_epochs(axes, max((len(h.epoch) for h in histories), default=1))
    axes.set_ylabel(key)
    axes.set_title(title or f"{key} per epoch")
    axes.grid(alpha=0.3)
    axes.legend()
    _save(figure, path)


def plot_confusion_matrix(
    matrix: npt.ArrayLike, path: str | os.PathLike[str], title: str = "confusion matrix (test set)"
) -> None:
    """Counts (C, C), rows the true class and columns the predicted one, each cell labelled."""
    matrix = np.asarray(matrix)
    size = max(4.0, 0.5 * len(matrix) + 2)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(matrix))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axes.text(col, row, str(count), ha="center", va="center", color=color, fontsize=8)
    _save(figure, path)


def _mosaic(tiles: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """Tiles (K, H, W) laid out in rows of ``columns`` with ``gap`` pixels of NaN between."""
    count, h, w = tiles.shape
    rows = math.ceil(count / columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for k in range(count):  # one slice assignment per tile, K <= a few dozen
        r, c = divmod(k, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[k]
    return out


def plot_misclassified(
    images: npt.ArrayLike,
    labels: npt.ArrayLike,
    predicted: npt.ArrayLike,
    path: str | os.PathLike[str],
    max_images: int = 36,
) -> None:
    """A grid of the first ``max_images`` mistakes: images (N, H, W), each marked true -> predicted."""
    images, labels, predicted = np.asarray(images), np.asarray(labels), np.asarray(predicted)
    wrong = np.flatnonzero(labels != predicted)[:max_images]
    h, w = images.shape[1:]
    columns = max(min(10 if h <= 12 else 6, len(wrong)), 1)  # small images: more per row
    rows = math.ceil(max(len(wrong), 1) / columns)
    figure = _figure(max(0.95 * columns + 0.4, 4.0), 1.0 * rows + 0.8)
    axes = figure.add_subplot()
    axes.axis("off")
    figure.suptitle(f"misclassified test images, true -> predicted ({len(wrong)} shown)")
    if not len(wrong):
        axes.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        _save(figure, path)
        return
    tiles = images[wrong].astype(np.float64)
    low = tiles.min(axis=(1, 2), keepdims=True)
    spread = tiles.max(axis=(1, 2), keepdims=True) - low
    tiles = (tiles - low) / np.where(spread > 0, spread, 1.0)  # each image to [0, 1]
    gap = max(h // 2, 1)
    axes.imshow(_mosaic(tiles, columns, gap), cmap="gray_r", vmin=0, vmax=1)
    for k, index in enumerate(wrong):
        r, c = divmod(k, columns)
        axes.text(
            c * (w + gap) + w / 2,
            r * (h + gap) - 0.5,
            f"{labels[index]} -> {predicted[index]}",
            ha="center",
            va="bottom",
            fontsize=8,
            color="C3",
        )
    _save(figure, path)


def plot_reconstructions(
    images: npt.ArrayLike, reconstructions: npt.ArrayLike, path: str | os.PathLike[str]
) -> None:
    """Inputs (K, H, W) in the top row, an autoencoder's reconstructions (K, H, W) below."""
    images = np.asarray(images, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    count = len(images)
    figure = _figure(1 + 0.8 * count, 2.2)
    axes = figure.add_subplot()
    axes.axis("off")
    axes.imshow(_mosaic(np.concatenate([images, reconstructions]), count, gap=2), cmap="gray_r")
    axes.set_title("test inputs (top) and their reconstructions (bottom)")
    _save(figure, path)


def plot_filters(weight: npt.ArrayLike, path: str | os.PathLike[str]) -> None:
    """The filters of a first convolution, weight (F, C, kh, kw): channel 0 of each, side by side."""
    weight = np.asarray(weight, dtype=np.float64)
    count, _, kh, kw = weight.shape
    columns = min(8, count)
    figure = _figure(6, 1 + 6 * math.ceil(count / columns) / columns)
    axes = figure.add_subplot()
    axes.axis("off")
    limit = float(np.abs(weight[:, 0]).max()) or 1.0
    image = axes.imshow(
        _mosaic(weight[:, 0], columns, gap=1), cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    # a colour bar as tall as the mosaic, not the figure (a short mosaic stretched it)
    bar = axes.inset_axes((1.02, 0.0, 0.03, 1.0))
    figure.colorbar(image, cax=bar)
    axes.set_title(f"first-layer filters: {count} of {kh}x{kw} (input channel 0)")
    _save(figure, path)
