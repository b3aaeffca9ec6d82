"""Sample and class weights for training: checked once here, used by ``fit``, the
``Trainer``, the experiments and (through scikit-learn's own helpers) the estimators.

``class_weight`` is ``"balanced"`` (class c weighs n_samples / (n_classes * n_c), as
scikit-learn's ``compute_class_weight`` defines it) or a mapping {class: weight} (classes
left out weigh 1). It multiplies ``sample_weight`` when both are given.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chainrule.autograd.tensor import TensorLike
from chainrule.errors import ArgumentError, DataError, ShapeError
from chainrule.nn.loss import LossFn
from chainrule.nn.module import Module

if TYPE_CHECKING:
    from chainrule.train.data_adapter import FitData


def check_sample_weight(sample_weight: TensorLike, n: int, role: str = "training") -> np.ndarray:
    """``sample_weight`` as float64 (n,): numbers, finite, >= 0, not all zero."""
    weight = np.asarray(sample_weight.numpy() if hasattr(sample_weight, "numpy") else sample_weight)
    if weight.dtype.kind not in "iufb":
        raise DataError(f"the {role} sample_weight must hold numbers; got dtype {weight.dtype}")
    if weight.shape != (n,):
        raise ShapeError(
            f"the {role} sample_weight must have shape ({n},), one weight per sample; "
            f"got shape {weight.shape}"
        )
    weight = weight.astype(np.float64)
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise DataError(
            f"the {role} sample_weight must be finite and >= 0; got values from "
            f"{weight.min()} to {weight.max()}"
        )
    if not weight.sum() > 0:
        raise DataError(f"the {role} sample_weight is zero for every sample; nothing to learn from")
    return weight


def class_sample_weight(y: TensorLike, class_weight: str | Mapping[Any, float]) -> np.ndarray:
    """One weight per sample from its class: ``class_weight`` of labels ``y`` (N,)
    (class indices or any labels; one-hot (N, C) rows are read by their argmax)."""
    labels = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] != 1:
        raise ShapeError(
            f"class_weight needs one class label per sample (N,); got targets of shape {labels.shape}"
        )
    labels = labels[:, 0]
    classes, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ArgumentError(
                f'class_weight must be "balanced" or a dict {{class: weight}}; got {class_weight!r}'
            )
        per_class = len(labels) / (len(classes) * counts.astype(np.float64))
    elif isinstance(class_weight, Mapping):
        per_class = np.ones(len(classes))
        known = {_key(c): i for i, c in enumerate(classes.tolist())}
        for label, value in class_weight.items():
            if (
                not isinstance(value, int | float | np.number)
                or not np.isfinite(value)
                or value < 0
            ):
                raise ArgumentError(
                    f"class_weight[{label!r}] must be a finite number >= 0; got {value!r}"
                )
            if _key(label) in known:
                per_class[known[_key(label)]] = float(value)
    else:
        raise ArgumentError(
            f'class_weight must be "balanced" or a dict {{class: weight}}; got {class_weight!r}'
        )
    return per_class[index]


def _key(label: Any) -> Any:
    """A dict key that matches a label whatever its NumPy type ("3", 3 and 3.0 differ)."""
    return label.item() if isinstance(label, np.generic) else label


def combine_weights(
    y: TensorLike | None,
    n: int,
    sample_weight: TensorLike | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    role: str = "training",
) -> np.ndarray | None:
    """sample_weight times the class weights (either may be None), checked; None if both are."""
    if sample_weight is None and class_weight is None:
        return None
    weight = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n, role)
    if class_weight is not None:
        if y is None:
            raise ArgumentError("class_weight needs the targets y")
        weight = weight * class_sample_weight(y, class_weight)
    return check_sample_weight(weight, n, role)


def weighted_data(
    data: FitData, sample_weight: TensorLike | None, class_weight: str | Mapping[Any, float] | None
) -> FitData:
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


def check_weighted_loss(loss_fn: LossFn) -> None:
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


def effective_sample_size(weights: npt.ArrayLike) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: n for equal weights, less the more
    unequal they are; the number of unweighted samples worth as much for an average."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0 or (w < 0).any() or not w.sum() > 0:
        raise ArgumentError(
            f"effective_sample_size needs a non-empty vector of weights >= 0, not all 0; got "
            f"shape {w.shape}"
        )
    return float(w.sum() ** 2 / (w**2).sum())


def importance_weights(
    x_train: npt.ArrayLike,
    x_test: npt.ArrayLike,
    *,
    clip: float | None = 20.0,
    classifier: Any = None,
) -> np.ndarray:
    """Density-ratio weights p_test(x) / p_train(x) for the training inputs (N_train,),
    estimated by a probabilistic classifier that tells test inputs from training inputs.

    By Bayes' rule p_test(x) / p_train(x) = p(test | x) / p(train | x) * n_train / n_test.
    The classifier defaults to scikit-learn's ``LogisticRegression`` (exact when the log
    ratio is linear in x, e.g. two Gaussians with one covariance); pass any estimator
    with ``predict_proba``, such as a pipeline with polynomial features. The weights are
    scaled to mean 1 and clipped at ``clip`` (None: not clipped), which trades a little
    bias for a larger effective sample size. Inputs are flattened to (N, features).
    """
    a = np.asarray(x_train, dtype=np.float64)
    b = np.asarray(x_test, dtype=np.float64)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if len(a) == 0 or len(b) == 0 or a.shape[1] != b.shape[1]:
        raise ShapeError(
            f"importance_weights needs non-empty training and test inputs with the same "
            f"features; got shapes {a.shape} and {b.shape}"
        )
    if clip is not None and not clip >= 1:
        raise ArgumentError(f"clip must be >= 1 (the weights' mean) or None; got {clip!r}")
    if classifier is None:
        try:
            from sklearn.linear_model import LogisticRegression  # optional: scikit-learn
        except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
            raise ImportError('importance_weights needs: pip install "chainrule[data]"') from error
        classifier = LogisticRegression(max_iter=1000)
    domain = np.r_[np.zeros(len(a)), np.ones(len(b))]
    classifier.fit(np.vstack([a, b]), domain)
    p_test = np.clip(classifier.predict_proba(a)[:, 1], 1e-12, 1 - 1e-12)
    weights = p_test / (1 - p_test) * len(a) / len(b)
    weights = weights / weights.mean()
    return weights if clip is None else np.minimum(weights, clip)
