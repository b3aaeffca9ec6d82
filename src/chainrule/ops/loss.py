"""Losses as fused ops: cross-entropy on logits (numerically stable log-softmax inside)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.errors import ArgumentError, ShapeError
from chainrule.ops._operands import as_tensor

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {REDUCTIONS}; got {reduction!r}")


def reduce_loss(per_sample: Tensor, reduction: str) -> Tensor:
    """Per-sample losses (N,) -> mean, sum, or left as they are."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


class CrossEntropy(Function):
    """Per-sample -sum_c q_c log softmax(z)_c for logits z (N, C) and target distribution q.

    Integer targets are one-hot q, kept sparse. dL/dz = softmax(z) - q: the famous
    simple gradient, and the reason the softmax and the log are fused into one op.
    """

    @staticmethod
    def forward(ctx, logits, target, smoothing=0.0):
        xp = get_array_module(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - log_norm
        n, c = logits.shape
        if target.dtype.kind in "iu":
            picked = log_probs[xp.arange(n), target]
            loss = -(1 - smoothing) * picked
            if smoothing:
                loss -= smoothing / c * log_probs.sum(axis=1)
        else:
            loss = -(target * log_probs).sum(axis=1)
        ctx.save_for_backward(log_probs, target)
        ctx.smoothing = smoothing
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        log_probs, target = ctx.saved
        xp = get_array_module(log_probs)
        n, c = log_probs.shape
        grad = xp.exp(log_probs)  # softmax
        if target.dtype.kind in "iu":
            grad[xp.arange(n), target] -= 1 - ctx.smoothing
            if ctx.smoothing:
                grad -= ctx.smoothing / c
        else:
            grad -= target
        grad *= grad_loss[:, None]
        return grad, None


def cross_entropy(
    logits: Tensor,
    target: Any,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between softmax(logits) and the target.

    logits: (N, C). target: class indices (N,) in [0, C), or probabilities (N, C).
    ``label_smoothing`` eps mixes the target with the uniform distribution:
    q = (1 - eps) q + eps / C.
    """
    check_reduction(reduction, "cross_entropy")
    logits = as_tensor(logits)
    target = target if isinstance(target, Tensor) else Tensor(target)
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must be (N, C); got shape {logits.shape}")
    n, c = logits.shape
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(
            f"cross_entropy: label_smoothing must be in [0, 1]; got {label_smoothing}"
        )
    if target.dtype.kind in "iu":
        if target.shape != (n,):
            raise ShapeError(
                f"cross_entropy: class targets must have shape ({n},) for logits {logits.shape}; "
                f"got {target.shape}"
            )
        if n and (int(target.data.min()) < 0 or int(target.data.max()) >= c):
            raise ArgumentError(
                f"cross_entropy: class targets must lie in [0, {c}); got values from "
                f"{int(target.data.min())} to {int(target.data.max())}"
            )
        smoothing = label_smoothing
        target_data = target.data
    elif target.dtype.kind == "f":
        if target.shape != logits.shape:
            raise ShapeError(
                f"cross_entropy: probability targets must have the logits' shape {logits.shape}; "
                f"got {target.shape}"
            )
        target_data = target.data.astype(logits.dtype, copy=False)
        if label_smoothing:
            target_data = (1 - label_smoothing) * target_data + label_smoothing / c
        smoothing = 0.0
    else:
        raise ArgumentError(
            f"cross_entropy: target must hold class indices (int) or probabilities (float); "
            f"got dtype {target.dtype}"
        )
    per_sample = CrossEntropy.apply(logits, Tensor._wrap(target_data, False), smoothing=smoothing)
    return reduce_loss(per_sample, reduction)
