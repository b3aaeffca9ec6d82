"""Metrics on model outputs: accuracy, top-k accuracy, confusion matrix, precision/recall.

Each metric takes ``(outputs, targets)`` as host arrays: outputs (N, C) scores (logits
or probabilities, whichever the model gives) or (N,) / (N, 1) binary probabilities,
targets (N,) class indices or (N, C) one-hot/probabilities.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, DTypeError, ShapeError, suggest

Metric = Callable[[np.ndarray, np.ndarray], float]


def _class_targets(targets: np.ndarray) -> np.ndarray:
    """Class indices (N,): the argmax of (N, C) one-hot rows; (N,) or (N, 1) labels as ints."""
    if targets.ndim == 2 and targets.shape[1] > 1:
        return targets.argmax(axis=1)
    return targets.reshape(-1).astype(np.int64, copy=False)


def predicted_classes(outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The predicted class of each row: argmax for (N, C), ``output > threshold`` for binary."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    return (outputs.reshape(-1) > threshold).astype(np.int64)


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose predicted class is the target class."""
    outputs, targets = _check_rows(outputs, targets, "accuracy")
    predicted = predicted_classes(outputs)
    return float((predicted == _class_targets(targets).reshape(-1)).mean())


def top_k_accuracy(outputs: np.ndarray, targets: np.ndarray, k: int = 5) -> float:
    """Fraction of rows whose target is among the k highest scores."""
    outputs, targets = _check_rows(outputs, targets, "top_k_accuracy")
    if (
        outputs.ndim != 2
        or isinstance(k, bool)
        or not isinstance(k, int | np.integer)
        or not 1 <= k <= outputs.shape[1]
    ):
        raise ArgumentError(
            f"top_k_accuracy: k must be in [1, C]; got k={k} for outputs {outputs.shape}"
        )
    top = np.argpartition(-outputs, k - 1, axis=1)[:, :k]
    return float((top == _class_targets(targets)[:, None]).any(axis=1).mean())


def confusion_matrix(
    outputs: np.ndarray, targets: np.ndarray, num_classes: int | None = None
) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    outputs, targets = _check_rows(outputs, targets, "confusion_matrix")
    predicted = predicted_classes(outputs)
    true = _class_targets(targets)
    if num_classes is None:
        num_classes = outputs.shape[1] if outputs.ndim == 2 and outputs.shape[1] > 1 else 2
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ArgumentError(
            f"confusion_matrix: num_classes must be a positive integer; got {num_classes!r}"
        )
    for name, classes in (("targets", true), ("predictions", predicted)):
        if classes.min() < 0 or classes.max() >= num_classes:
            raise ArgumentError(
                f"confusion_matrix: {name} must be classes in [0, {num_classes}); got values "
                f"from {classes.min()} to {classes.max()}"
            )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def precision_recall(
    outputs: np.ndarray, targets: np.ndarray, num_classes: int | None = None
) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 from the confusion matrix (0 where undefined)."""
    matrix = confusion_matrix(outputs, targets, num_classes)
    hits = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def _check_rows(outputs: Any, targets: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """outputs (N,) or (N, C) and targets (N,) or (N, C) as arrays, N > 0 and C > 0."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.ndim not in (1, 2) or targets.ndim not in (1, 2) or 0 in outputs.shape[1:]:
        raise ShapeError(
            f"{name}: expected outputs (N,) or (N, C) and targets (N,) or (N, C); got shapes "
            f"{outputs.shape} and {targets.shape}"
        )
    if len(outputs) != len(targets):
        raise ShapeError(f"{name}: {len(outputs)} outputs but {len(targets)} targets")
    if len(outputs) == 0:
        raise ShapeError(f"{name}: got no outputs (an empty batch)")
    if targets.ndim == 2 and targets.shape[1] > 1 and targets.shape != outputs.shape:
        raise ShapeError(
            f"{name}: one-hot targets of shape {targets.shape} do not match outputs of shape "
            f"{outputs.shape}"
        )
    if targets.dtype.kind not in "iubf" or outputs.dtype.kind not in "iubf":
        raise DTypeError(
            f"{name}: outputs and targets must be numbers; got dtypes {outputs.dtype} and "
            f"{targets.dtype}"
        )
    return outputs, targets


def f1(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Macro-averaged F1 over the classes that occur (as targets or predictions).

    As a training metric it is averaged over batches; on validation data, exact.
    """
    matrix = confusion_matrix(outputs, targets)
    hits = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    occurring = (predicted + actual) > 0
    return float(np.mean(2 * hits[occurring] / (predicted + actual)[occurring]))


def _top_k(k: int) -> Metric:
    def metric(outputs: np.ndarray, targets: np.ndarray) -> float:
        return top_k_accuracy(outputs, targets, k)

    metric.__name__ = f"top_{k}_accuracy"
    return metric


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "f1": f1,
    "top_3_accuracy": _top_k(3),
    "top_5_accuracy": _top_k(5),
    "top3": _top_k(3),
    "top5": _top_k(5),
}
TOP_K = re.compile(r"top_?(\d+)(_accuracy)?")  # top_k_accuracy, top_k or topk, any k >= 1


def get_metric(spec: str | Metric) -> tuple[str, Metric]:
    """(name, function) for a metric name (``METRICS``, or ``top_<k>_accuracy`` for any k)
    or a function ``f(outputs, targets)``."""
    if callable(spec):
        return getattr(spec, "__name__", "metric"), spec
    match = TOP_K.fullmatch(spec) if isinstance(spec, str) else None
    if match and spec not in METRICS and int(match.group(1)) >= 1:
        return spec, _top_k(int(match.group(1)))
    if spec not in METRICS:
        raise ArgumentError(
            f"unknown metric {spec!r}{suggest(str(spec), METRICS)}; expected one of "
            f"{sorted(METRICS)}, top_<k>_accuracy, or a function"
        )
    return ("accuracy" if spec == "acc" else spec), METRICS[spec]
