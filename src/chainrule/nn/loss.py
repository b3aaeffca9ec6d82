"""Losses as modules: ``criterion(input, target)``, each wrapping the function in ``ops.loss``.

``reduction`` is 'mean' (the default), 'sum', or 'none' (one loss per element or sample).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.ops import loss as L
from chainrule.ops._operands import check_number


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        L.check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (input - target)^2; input and target of one shape."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |input - target|; input and target of one shape."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1] (after a sigmoid); log floored at -100."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: sigmoid and log fused, stable for any logit."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy_with_logits(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of softmax(logits (N, C)) against class indices (N,) or probabilities
    (N, C); ``label_smoothing`` eps mixes the target with the uniform distribution."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        check_number(label_smoothing, "label_smoothing", "CrossEntropyLoss")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ArgumentError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1]; got {label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.cross_entropy(input, target, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) (after LogSoftmax) at class
    indices (N,)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.nll_loss(input, target, self.reduction)
