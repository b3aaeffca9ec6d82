"""Metrics on model outputs: accuracy, top-k accuracy, confusion matrix, precision/recall.

Each metric takes ``(outputs, targets)`` as host arrays: outputs (N, C) scores (logits
or probabilities, whichever the model gives) or (N,) / (N, 1) binary probabilities,
targets (N,) class indices or (N, C) one-hot/probabilities. Each also takes
``sample_weight`` (N,): a weighted fraction (accuracies) or weighted counts (confusion
matrix), as scikit-learn's ``accuracy_score`` and ``confusion_matrix`` define them.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from chainrule.backend import get_array_module
from chainrule.checks import is_int
from chainrule.errors import ArgumentError, DTypeError, ShapeError, suggest

if TYPE_CHECKING:
    from chainrule.backend import Array

Metric = Callable[[np.ndarray, np.ndarray], float]


def _class_targets(targets: np.ndarray) -> np.ndarray:
    """Class indices (N,): the argmax of (N, C) one-hot rows; (N,) or (N, 1) labels as ints."""
    if targets.ndim == 2 and targets.shape[1] > 1:
        return targets.argmax(axis=1)
    return targets.reshape(-1).astype(np.int64, copy=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax of each row of host logits (N, C): class probabilities (N, C), same dtype.

    The one host-side softmax (the engine's is ``chainrule.ops.softmax``, on tensors)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predicted_classes(outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The predicted class of each row: argmax for (N, C), ``output > threshold`` for binary."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    return (outputs.reshape(-1) > threshold).astype(np.int64)


def accuracy(
    outputs: np.ndarray, targets: np.ndarray, sample_weight: npt.ArrayLike | None = None
) -> float:
    """Fraction of rows (of the total weight) whose predicted class is the target class."""
    outputs, targets = _check_rows(outputs, targets, "accuracy")
    weight = _check_weight(sample_weight, len(outputs), "accuracy")
    predicted = predicted_classes(outputs)
    return _weighted_mean(predicted == _class_targets(targets).reshape(-1), weight)


def top_k_accuracy(
    outputs: np.ndarray, targets: np.ndarray, k: int = 5, sample_weight: npt.ArrayLike | None = None
) -> float:
    """Fraction of rows (of the total weight) whose target is among the k highest scores."""
    outputs, targets = _check_rows(outputs, targets, "top_k_accuracy")
    weight = _check_weight(sample_weight, len(outputs), "top_k_accuracy")
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
    return _weighted_mean((top == _class_targets(targets)[:, None]).any(axis=1), weight)


def confusion_matrix(
    outputs: np.ndarray,
    targets: np.ndarray,
    num_classes: int | None = None,
    sample_weight: npt.ArrayLike | None = None,
) -> np.ndarray:
    """(C, C) counts (int), or total weights (float) with ``sample_weight``: row = true
    class, column = predicted class."""
    outputs, targets = _check_rows(outputs, targets, "confusion_matrix")
    weight = _check_weight(sample_weight, len(outputs), "confusion_matrix")
    predicted = predicted_classes(outputs)
    true = _class_targets(targets)
    if num_classes is None:
        num_classes = outputs.shape[1] if outputs.ndim == 2 and outputs.shape[1] > 1 else 2
    if not is_int(num_classes) or num_classes < 1:
        raise ArgumentError(
            f"confusion_matrix: num_classes must be a positive integer; got {num_classes!r}"
        )
    for name, classes in (("targets", true), ("predictions", predicted)):
        if classes.min() < 0 or classes.max() >= num_classes:
            raise ArgumentError(
                f"confusion_matrix: {name} must be classes in [0, {num_classes}); got values "
                f"from {classes.min()} to {classes.max()}"
            )
    dtype = np.int64 if weight is None else np.float64
    matrix = np.zeros((num_classes, num_classes), dtype=dtype)
    np.add.at(matrix, (true, predicted), 1 if weight is None else weight)
    return matrix


def precision_recall(
    outputs: np.ndarray,
    targets: np.ndarray,
    num_classes: int | None = None,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 from the (weighted) confusion matrix (0 where
    undefined); ``support`` is each class's count (total weight)."""
    matrix = confusion_matrix(outputs, targets, num_classes, sample_weight)
    hits = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def _check_rows(
    outputs: npt.ArrayLike, targets: npt.ArrayLike, name: str
) -> tuple[np.ndarray, np.ndarray]:
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


def _check_weight(sample_weight: npt.ArrayLike | None, n: int, name: str) -> np.ndarray | None:
    """``sample_weight`` as float64 (N,), finite and >= 0 with a positive total; or None."""
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "iufb":
        raise DTypeError(f"{name}: sample_weight must hold numbers; got dtype {weight.dtype}")
    weight = weight.astype(np.float64)
    if weight.shape != (n,):
        raise ShapeError(
            f"{name}: sample_weight must have shape ({n},), one weight per row; got {weight.shape}"
        )
    if not np.isfinite(weight).all() or (weight < 0).any() or not weight.sum() > 0:
        raise ArgumentError(
            f"{name}: sample_weight must be finite, >= 0 and not all 0; got values from "
            f"{weight.min()} to {weight.max()}"
        )
    return weight


def _weighted_mean(hits: np.ndarray, weight: np.ndarray | None) -> float:
    if weight is None:
        return float(hits.mean())
    return float(np.dot(hits.astype(np.float64), weight) / weight.sum())


def f1(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Macro-averaged F1 over the classes that occur (as targets or predictions).

    As a training metric it is averaged over batches; on validation data, exact.
    """
    matrix = confusion_matrix(outputs, targets)
    hits = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    occurring = (predicted + actual) > 0
    return float(np.mean(2 * hits[occurring] / (predicted + actual)[occurring]))


@functools.cache
def _top_k(k: int) -> Metric:
    """The top-k accuracy as a metric; one function per k (``DEVICE_HITS`` knows it)."""

    def metric(
        outputs: np.ndarray, targets: np.ndarray, sample_weight: npt.ArrayLike | None = None
    ) -> float:
        return top_k_accuracy(outputs, targets, k, sample_weight)

    metric.__name__ = f"top_{k}_accuracy"
    DEVICE_HITS[metric] = lambda o, t: _device_hits(o, t, k)
    return metric


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "f1": f1,
}


def _device_hits(outputs: Array, targets: Array, k: int = 1) -> Array:
    """(N,) booleans, computed where the arrays are: whether each row's target is among its
    k highest scores (k = 1: the predicted class, as ``predicted_classes`` finds it)."""
    if len(outputs) != len(targets) or (
        targets.ndim == 2 and targets.shape[1] > 1 and targets.shape != outputs.shape
    ):
        raise ShapeError(
            f"metric: outputs of shape {outputs.shape} do not fit targets of shape {targets.shape}"
        )
    xp = get_array_module(outputs)
    if targets.ndim == 2 and targets.shape[1] > 1:
        true = targets.argmax(axis=1)
    else:
        true = targets.reshape(-1).astype(xp.int64, copy=False)
    if k == 1:
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            return outputs.argmax(axis=1) == true
        return (outputs.reshape(-1) > 0.5).astype(xp.int64) == true
    if outputs.ndim != 2 or not 1 <= k <= outputs.shape[1]:
        raise ArgumentError(
            f"top_k_accuracy: k must be in [1, C]; got k={k} for outputs {outputs.shape}"
        )
    top = xp.argpartition(-outputs, k - 1, axis=1)[:, :k]
    return (top == true[:, None]).any(axis=1)


# The metrics that can count their hits on a device, so training on a GPU need not copy
# each batch's outputs to the host: metric -> (N,) hits whose (weighted) sum is the
# metric times its denominator.
DEVICE_HITS: dict[Metric, Callable[[Array, Array], Array]] = {
    accuracy: _device_hits,
}
METRICS.update(
    {
        "top_3_accuracy": _top_k(3),
        "top_5_accuracy": _top_k(5),
        "top3": _top_k(3),
        "top5": _top_k(5),
    }
)
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


def takes_sample_weight(metric: Callable[..., object]) -> bool:
    """Whether ``metric`` has a ``sample_weight`` parameter (or takes any keyword)."""
    try:
        parameters = inspect.signature(metric).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters)
