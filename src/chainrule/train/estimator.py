"""scikit-learn estimators around a chainrule network: ``GridSearchCV`` and
``cross_val_score`` work on them as on any scikit-learn model.

Hyperparameters are constructor arguments that ``__init__`` only stores; ``fit``
builds the network (a multilayer perceptron from ``hidden_layer_sizes``, or
``module(n_features, n_outputs)`` when given), trains it and returns ``self``.
Inputs and targets are checked by scikit-learn's own ``validate_data``,
``check_classification_targets`` and ``check_is_fitted``, so both estimators pass
scikit-learn's estimator checks (``tests/test_estimator_checks.py``).

``fit`` takes ``sample_weight`` (also through ``GridSearchCV.fit(..., sample_weight=w)``);
the classifier takes ``class_weight`` ("balanced" or {label: weight}). Training runs in
float32 under the library's seeded generator (``seed``; the caller's random stream is
left as it was). Prediction runs in float64 over fixed-size batches, so a sample's output
does not depend on which other samples are predicted with it.
Needs the ``data`` extra (scikit-learn).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import nn, optim

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'the scikit-learn estimators need scikit-learn >= 1.6: pip install "chainrule[data]"'
    ) from error

from chainrule.autograd.tensor import Tensor
from chainrule.backend import fork_rng
from chainrule.errors import ArgumentError, DataError
from chainrule.nn.modes import evaluating
from chainrule.train.loop import fit
from chainrule.train.metrics import softmax
from chainrule.train.weights import check_sample_weight

PREDICT_BATCH = 1024  # rows per forward pass when predicting


def build_mlp(
    n_features: int,
    n_outputs: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    dropout: float,
) -> nn.Sequential:
    """Linear -> activation (-> Dropout) for each hidden size, then a Linear output layer.

    ``activation`` is a name in ``nn.ACTIVATIONS``; each Linear before it starts from the
    initialiser that activation suggests (He for the rectifiers, Glorot otherwise)."""
    if activation not in nn.ACTIVATIONS:
        raise ArgumentError(
            f"activation must be one of {sorted(nn.ACTIVATIONS)}; got {activation!r}"
        )
    cls = nn.ACTIVATIONS[activation]
    modules: list[Any] = []
    width = n_features
    for size in hidden_layer_sizes:
        modules += [nn.Linear(width, size, weight_init=cls.suggested_init), cls()]
        if dropout:
            modules.append(nn.Dropout(dropout))
        width = size
    modules.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*modules)


class _NeuralNet(BaseEstimator):
    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 20,
        batch_size: int = 32,
        module: Callable[[int, int], Any] | None = None,
        seed: int | None = 0,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.module = module
        self.seed = seed
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.seed is None
        return tags

    def _validate(self, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
        """scikit-learn's checks of X (and y): numbers, finite, 2-D or more, not sparse."""
        return validate_data(self, X, y, dtype=(np.float64, np.float32), allow_nd=True, **kwargs)

    def _train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        n_outputs: int,
        loss: str,
        sample_weight: np.ndarray | None,
    ) -> None:
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in optim.OPTIMIZERS:
            raise ArgumentError(
                f"optimizer must be one of {sorted(optim.OPTIMIZERS)}; got {self.optimizer!r}"
            )
        # seeded: the caller's random stream goes on undisturbed; unseeded: it is drawn on
        with fork_rng(self.seed) if self.seed is not None else contextlib.nullcontext():
            n_features = int(np.prod(x.shape[1:]))
            if self.module is not None:
                self.model_ = self.module(n_features, n_outputs)
            else:
                self.model_ = build_mlp(
                    n_features, n_outputs, self.hidden_layer_sizes, self.activation, self.dropout
                )
            cls = optim.OPTIMIZERS[self.optimizer.lower()]
            options = {"lr": self.lr, "weight_decay": self.weight_decay}
            accepted = inspect.signature(cls).parameters
            if self.weight_decay and "weight_decay" not in accepted:
                raise ArgumentError(
                    f"optimizer {self.optimizer!r} takes no weight_decay; got "
                    f"weight_decay={self.weight_decay} (use 0, or another optimizer)"
                )
            optimizer = optim.get(
                self.optimizer,
                self.model_.parameters(),
                **{k: v for k, v in options.items() if k in accepted},
            )
            self.history_ = fit(
                self.model_,
                (x.astype(np.float32, copy=False), y),
                loss=loss,
                optimizer=optimizer,
                epochs=self.epochs,
                batch_size=self.batch_size,
                verbose=self.verbose,
                sample_weight=sample_weight,
            )

    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs (N, K) in float64, batch by batch, in eval mode."""
        check_is_fitted(self)
        x = self._validate(X, reset=False).astype(np.float64, copy=False)
        model = self.model_
        with evaluating(model), _in_float64(model):
            outputs = [
                model(Tensor(x[start : start + PREDICT_BATCH], dtype=np.float64)).numpy()
                for start in range(0, len(x), PREDICT_BATCH)
            ]
        out = np.concatenate(outputs).astype(np.float64, copy=False)
        return out.reshape(len(out), -1)


@contextmanager
def _in_float64(model: Any) -> Iterator[None]:
    """``model``'s parameters and buffers as float64 for a while, then the very arrays back.

    NOTE: float64, not float32: a float32 row's logits depend (in the last bits) on how many
    rows BLAS multiplies at once, so a sample predicted alone would differ from the same
    sample predicted in a batch. In float64 that noise is ~1e-16, far below float32.
    """
    tensors = [*model.parameters(), *(buffer for _, buffer in model.named_buffers())]
    originals = [tensor.data for tensor in tensors]
    try:
        for tensor in tensors:
            if tensor.data.dtype.kind == "f":
                tensor.data = tensor.data.astype(np.float64)
        yield
    finally:
        for tensor, original in zip(tensors, originals):
            tensor.data = original


def _sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    return None if sample_weight is None else check_sample_weight(sample_weight, n)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A classifier: one logit and binary cross-entropy for two classes (as
    ``MLPClassifier``), softmax cross-entropy for more; ``classes_`` holds the labels.

    ``class_weight``: "balanced" (n_samples / (n_classes * count of the class)) or a dict
    {label: weight}, computed by scikit-learn's ``compute_sample_weight`` and multiplied
    into ``sample_weight``.
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 20,
        batch_size: int = 32,
        module: Callable[[int, int], Any] | None = None,
        seed: int | None = 0,
        verbose: int = 0,
        class_weight: str | dict[Any, float] | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            epochs=epochs,
            batch_size=batch_size,
            module=module,
            seed=seed,
            verbose=verbose,
        )
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetClassifier:
        """Train on X (N, F) (or (N, ...) with ``module``) and labels y (N,); returns self."""
        X, y = self._validate(X, y)
        check_classification_targets(y)
        weight = _sample_weight(sample_weight, len(X))
        if self.class_weight is not None:
            by_class = compute_sample_weight(self.class_weight, y)
            weight = by_class if weight is None else weight * by_class
        self.classes_, y_index = np.unique(y, return_inverse=True)
        present = self.classes_ if weight is None else np.unique(y[weight > 0])
        if len(present) < 2:
            raise DataError(
                f"{type(self).__name__} needs samples of at least 2 classes (with weight > 0) "
                f"to learn from; got 1 class ({present[0]!r})"
            )
        self.binary_ = type_of_target(y) == "binary"  # one logit, as MLPClassifier
        if self.binary_:
            target = y_index.astype(np.float32).reshape(-1, 1)
            self._train(X, target, 1, "bce_with_logits", weight)
        else:
            self._train(X, y_index.astype(np.int64), len(self.classes_), "cross_entropy", weight)
        return self

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class probabilities (N, n_classes), float64, columns in the order of ``classes_``."""
        logits = self._outputs(X)
        if self.binary_:
            positive = _sigmoid(logits[:, 0])
            return np.column_stack([1 - positive, positive])
        return softmax(logits)

    def predict_log_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """log of ``predict_proba`` (N, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The most probable label of each row (N,)."""
        logits = self._outputs(X)
        if self.binary_:
            return self.classes_[(logits[:, 0] > 0).astype(np.int64)]
        return self.classes_[logits.argmax(axis=1)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    small = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + small), small / (1 + small))


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A regressor: mean squared error; ``predict`` gives (N,) for y (N,), else (N, T)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NeuralNetRegressor:
        """Train on X (N, F) (or (N, ...) with ``module``) and targets y (N,) or (N, T)."""
        X, y = self._validate(X, y, multi_output=True, y_numeric=True)
        weight = _sample_weight(sample_weight, len(X))
        self._single_target = y.ndim == 1
        y2 = y.reshape(len(y), -1).astype(np.float32)
        self._train(X, y2, y2.shape[1], "mse", weight)
        return self

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predictions (N,) for a single target, else (N, T), float64."""
        out = self._outputs(X)
        return out[:, 0] if self._single_target else out
