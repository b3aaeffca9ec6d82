"""Losses as modules: ``criterion(input, target)``, each wrapping the function in ``ops.loss``.

``reduction`` is 'mean' (the default), 'sum', or 'none' (one loss per element or sample).
Every criterion also takes ``sample_weight`` (N,) in the call: ``criterion(input, target,
sample_weight=w)``; ``CrossEntropyLoss`` and ``NLLLoss`` take per-class ``weight`` (C,) as
in PyTorch. See ``ops.loss`` for how weights enter the mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.checks import check_number
from chainrule.errors import ArgumentError, suggest
from chainrule.nn.module import Module
from chainrule.ops import loss as L


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        L.check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (input - target)^2; input and target of one shape."""

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.mse_loss(input, target, self.reduction, sample_weight)


class L1Loss(_Loss):
    """Mean absolute error |input - target|; input and target of one shape."""

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.l1_loss(input, target, self.reduction, sample_weight)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1] (after a sigmoid); log floored at -100."""

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.binary_cross_entropy(input, target, self.reduction, sample_weight)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: sigmoid and log fused, stable for any logit."""

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.binary_cross_entropy_with_logits(input, target, self.reduction, sample_weight)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of softmax(logits (N, C)) against class indices (N,) or probabilities
    (N, C); ``label_smoothing`` s mixes the target with the uniform distribution;
    ``weight`` (C,) weighs the classes."""

    def __init__(
        self, weight: Any = None, reduction: str = "mean", label_smoothing: float = 0.0
    ) -> None:
        super().__init__(reduction)
        self.weight = _class_weight(weight, "CrossEntropyLoss")
        check_number(label_smoothing, "label_smoothing", "CrossEntropyLoss")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ArgumentError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1]; got {label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.cross_entropy(
            input, target, self.reduction, self.label_smoothing, self.weight, sample_weight
        )

    def extra_repr(self) -> str:
        weight = "" if self.weight is None else f", weight={self.weight.data.tolist()}"
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}{weight}"


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) (after LogSoftmax) at class
    indices (N,); ``weight`` (C,) weighs the classes."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = _class_weight(weight, "NLLLoss")

    def forward(
        self, input: Tensor, target: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor:
        return L.nll_loss(input, target, self.reduction, self.weight, sample_weight)

    def extra_repr(self) -> str:
        weight = "" if self.weight is None else f", weight={self.weight.data.tolist()}"
        return f"{super().extra_repr()}{weight}"


def _class_weight(weight: Any, owner: str) -> Tensor | None:
    """Per-class weights as a float64 Tensor (C,), checked now (layers validate eagerly)."""
    if weight is None:
        return None
    try:
        tensor = weight if isinstance(weight, Tensor) else Tensor(weight, dtype="float64")
    except (TypeError, ValueError):
        tensor = None
    if tensor is None or tensor.ndim != 1 or tensor.dtype.kind not in "iuf" or tensor.size == 0:
        shape = "?" if tensor is None else tensor.shape
        raise ArgumentError(
            f"{owner}: weight must be a non-empty vector of numbers, one per class; got "
            f"{weight!r} of shape {shape}"
        )
    values = tensor.data
    if not bool((values == values).all()) or float(abs(values).max()) == float("inf"):
        raise ArgumentError(f"{owner}: weight must be finite and >= 0; got {values.tolist()}")
    if float(values.min()) < 0:
        raise ArgumentError(f"{owner}: weight must be finite and >= 0; got {values.tolist()}")
    return tensor


LossFn = Callable[..., Tensor]

# Every loss function by the names ``fit(loss=...)`` takes (Keras' names too); each is the
# function in ``ops.loss`` that the module of the same kind above wraps.
LOSSES: dict[str, LossFn] = {
    "cross_entropy": L.cross_entropy,
    "categorical_crossentropy": L.cross_entropy,
    "mse": L.mse_loss,
    "mean_squared_error": L.mse_loss,
    "l1": L.l1_loss,
    "mae": L.l1_loss,
    "binary_cross_entropy": L.binary_cross_entropy,
    "bce": L.binary_cross_entropy,
    "bce_with_logits": L.binary_cross_entropy_with_logits,
    "nll": L.nll_loss,
}


def get_loss(spec: str | LossFn) -> LossFn:
    """A loss function ``loss(outputs, targets)`` from a name in ``LOSSES``, or ``spec``
    itself when it is callable. Unknown names are refused, listing the known."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec not in LOSSES:
        hint = suggest(spec, LOSSES) if isinstance(spec, str) else ""
        raise ArgumentError(
            f"unknown loss {spec!r}{hint}; expected one of {sorted(LOSSES)} or a function"
        )
    return LOSSES[spec]
