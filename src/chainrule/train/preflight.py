"""Checks before training starts: two samples through the model and the loss, so a wrong
input shape or label range fails at once, with a message, not deep in epoch 1."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.errors import DataError, ShapeError
from chainrule.nn.loss import LossFn
from chainrule.nn.modes import evaluating
from chainrule.nn.module import Module
from chainrule.train.weights import check_weighted_loss


def preflight(model: Module, loss_fn: LossFn, loader: Any) -> None:
    """Run two of ``loader``'s samples through ``model`` and ``loss_fn``, in eval mode."""
    x, y, *weight = loader.peek(2)
    if weight:
        check_weighted_loss(loss_fn)
    with evaluating(model):
        try:
            out = model(x)
        except ShapeError as error:
            raise ShapeError(
                f"the model cannot take the training inputs (samples of shape {tuple(x.shape[1:])}): {error}"
            ) from None
        _check_label_range(loader.labels(), out)
        loss_fn(out, y)


def _check_label_range(labels: Any, out: Tensor) -> None:
    """Integer class labels (N,) must index the model's outputs (N, C)."""
    if (
        labels is not None
        and out.ndim == 2
        and out.shape[1] > 1
        and labels.dtype.kind in "iu"
        and labels.ndim == 1
    ):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= out.shape[1]:
            raise DataError(
                f"labels must lie in [0, {out.shape[1]}) for a model with {out.shape[1]} outputs; "
                f"found labels from {low} to {high}"
            )
