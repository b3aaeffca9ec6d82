"""Training: ``fit``/``evaluate``/``predict``, callbacks, metrics, ``History``, checkpoints.

The scikit-learn estimators (``NeuralNetClassifier``, ``NeuralNetRegressor``) load on
first use, so ``import chainrule`` never imports scikit-learn.
"""

from typing import Any

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from chainrule.train.distill import Distiller
from chainrule.train.evaluation import evaluate, predict, predict_proba
from chainrule.train.history import History
from chainrule.train.loop import Trainer, fit
from chainrule.train.metrics import accuracy, confusion_matrix, precision_recall, top_k_accuracy
from chainrule.train.serialization import load, save
from chainrule.train.strategy import Strategy
from chainrule.train.tensorboard import TensorBoard
from chainrule.train.torch_weights import load_torch_weights, save_torch_weights
from chainrule.train.weights import effective_sample_size, importance_weights

__all__ = [
    "CSVLogger",
    "Callback",
    "Distiller",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "ReduceLROnPlateau",
    "Strategy",
    "TensorBoard",
    "TerminateOnNaN",
    "Trainer",
    "accuracy",
    "confusion_matrix",
    "effective_sample_size",
    "evaluate",
    "fit",
    "importance_weights",
    "load",
    "load_torch_weights",
    "precision_recall",
    "predict",
    "predict_proba",
    "save",
    "save_torch_weights",
    "top_k_accuracy",
]


def __getattr__(name: str) -> Any:
    if name in ("NeuralNetClassifier", "NeuralNetRegressor"):
        # optional: scikit-learn, only when an estimator is asked for
        from chainrule.train import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'chainrule.train' has no attribute {name!r}")
