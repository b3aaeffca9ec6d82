"""scikit-learn estimators around a chainrule network: ``GridSearchCV`` and
``cross_val_score`` work on them as on any scikit-learn model.

Hyperparameters are constructor arguments that ``__init__`` only stores; ``fit``
builds the network (a multilayer perceptron from ``hidden_layer_sizes``, or
``module(n_features, n_outputs)`` when given), trains it and returns ``self``.
Needs the ``data`` extra (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError('the scikit-learn estimators need: pip install "chainrule[data]"') from error

from chainrule.backend import manual_seed
from chainrule.errors import ArgumentError
from chainrule.train.loop import fit, predict, predict_proba

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu")


def build_mlp(
    n_features: int,
    n_outputs: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    dropout: float,
) -> Any:
    """Linear -> activation (-> Dropout) for each hidden size, then a Linear output layer."""
    from chainrule import nn

    layers: dict[str, Any] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
    }
    if activation not in layers:
        raise ArgumentError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
    modules: list[Any] = []
    width = n_features
    for size in hidden_layer_sizes:
        modules += [
            nn.Linear(
                width,
                size,
                weight_init="he_normal"
                if activation in ("relu", "leaky_relu", "elu")
                else "xavier_uniform",
            ),
            layers[activation](),
        ]
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

    def _train(self, x: np.ndarray, y: np.ndarray, n_outputs: int, loss: str) -> None:
        from chainrule import optim
        from chainrule.train.loop import OPTIMIZERS

        if self.seed is not None:
            manual_seed(self.seed)
        x = np.asarray(x, dtype=np.float32)
        self.n_features_in_ = int(np.prod(x.shape[1:]))
        if self.module is not None:
            self.model_ = self.module(self.n_features_in_, n_outputs)
        else:
            self.model_ = build_mlp(
                self.n_features_in_,
                n_outputs,
                self.hidden_layer_sizes,
                self.activation,
                self.dropout,
            )
        if self.optimizer.lower() not in OPTIMIZERS:
            raise ArgumentError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}; got {self.optimizer!r}"
            )
        optimizer = getattr(optim, OPTIMIZERS[self.optimizer.lower()])(
            self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        self.history_ = fit(
            self.model_,
            (x, y),
            loss=loss,
            optimizer=optimizer,
            epochs=self.epochs,
            batch_size=self.batch_size,
            verbose=self.verbose,
        )

    def _outputs(self, x: Any) -> np.ndarray:
        return predict(self.model_, np.asarray(x, dtype=np.float32))


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A classifier: cross-entropy on the network's logits; ``classes_`` holds the labels."""

    def fit(self, X: Any, y: Any) -> NeuralNetClassifier:
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        self._train(X, y_index.astype(np.int64), len(self.classes_), "cross_entropy")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return predict_proba(self.model_, np.asarray(X, dtype=np.float32))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self._outputs(X).argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A regressor: mean squared error; ``predict`` gives (N,) for one target, else (N, T)."""

    def fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        y = np.asarray(y, dtype=np.float32)
        self._single_target = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self._train(X, y2, y2.shape[1], "mse")
        return self

    def predict(self, X: Any) -> np.ndarray:
        out = self._outputs(X)
        return out[:, 0] if self._single_target else out
