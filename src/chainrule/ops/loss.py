"""Losses: cross-entropy on logits (numerically stable log-softmax inside), negative
log-likelihood, binary cross-entropy on probabilities or logits, mean squared and absolute error.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops._operands import as_tensor, check_number
from chainrule.ops.activation import stable_sigmoid
from chainrule.ops.elementwise import abs
from chainrule.ops.shape import getitem

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
    _check_floating(logits, "logits", "cross_entropy")
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must be (N, C); got shape {logits.shape}")
    n, c = logits.shape
    if c == 0:
        raise ShapeError(f"cross_entropy: logits of shape {logits.shape} have no classes")
    label_smoothing = check_number(label_smoothing, "label_smoothing", "cross_entropy")
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
        if target.shape == (n,):  # class labels that came in as floats (y from a CSV, /255...)
            raise DTypeError(
                f"cross_entropy: class labels must be integers; got {target.dtype} targets of "
                f"shape {target.shape} for logits {logits.shape}. Cast them (y.astype('int64')) "
                f"or pass class probabilities of shape {logits.shape}"
            )
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


class BinaryCrossEntropy(Function):
    """Per-element -(t log p + (1 - t) log(1 - p)) for probabilities p and targets t.

    Each log is floored at -100, as PyTorch does, so p = 0 or 1 costs 100, not inf.
    dL/dp = (p - t) / (p (1 - p)), the denominator kept >= 1e-12; dL/dt = log(1-p) - log p.
    """

    @staticmethod
    def forward(ctx, p, t):
        log_p, log_q = _floored_log(p), _floored_log(1 - p)
        ctx.save_for_backward(p, t, log_p, log_q)
        return -(t * log_p + (1 - t) * log_q)

    @staticmethod
    def backward(ctx, grad_loss):
        p, t, log_p, log_q = ctx.saved
        xp = get_array_module(p)
        need_p, need_t = ctx.needs_input_grad
        grad_p = grad_loss * (p - t) / xp.maximum(p * (1 - p), 1e-12) if need_p else None
        grad_t = grad_loss * (log_q - log_p) if need_t else None
        return grad_p, grad_t


def _floored_log(v):
    """max(log v, -100).

    NOTE: log(max(v, 1e-45)), not log(v): log(0) is -inf with a warning, and 1e-45 is
    below e^-100, so the floor alone still decides the value at 0.
    """
    xp = get_array_module(v)
    return xp.maximum(xp.log(xp.maximum(v, 1e-45)), -100.0)


class BinaryCrossEntropyWithLogits(Function):
    """Per-element binary cross-entropy of sigmoid(z) against t, from the logits z.

    As max(z, 0) - z t + log(1 + e^-|z|): finite for any z (no sigmoid that rounds to 0 or
    1 before the log). dL/dz = sigmoid(z) - t; dL/dt = -z.
    """

    @staticmethod
    def forward(ctx, z, t):
        xp = get_array_module(z)
        small = xp.exp(-xp.abs(z))  # in (0, 1]
        loss = xp.maximum(z, 0) - z * t + xp.log1p(small)
        sigmoid_z = stable_sigmoid(z, small) if ctx.needs_input_grad[0] else None
        ctx.save_for_backward(z, t, sigmoid_z)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        z, t, sigmoid_z = ctx.saved
        need_z, need_t = ctx.needs_input_grad
        grad_z = grad_loss * (sigmoid_z - t) if need_z else None
        grad_t = -grad_loss * z if need_t else None
        return grad_z, grad_t


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2, reduced. input and target of one shape."""
    check_reduction(reduction, "mse_loss")
    input, target = _same_shape_pair(input, target, "mse_loss")
    diff = input - target
    return reduce_loss(diff * diff, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: |input - target|, reduced (gradient 0 where they are equal)."""
    check_reduction(reduction, "l1_loss")
    input, target = _same_shape_pair(input, target, "l1_loss")
    return reduce_loss(abs(input - target), reduction)


def binary_cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` and targets in [0, 1], one shape.

    For logits, binary_cross_entropy_with_logits is exact where this one floors log at -100.
    """
    check_reduction(reduction, "binary_cross_entropy")
    input, target = _same_shape_pair(input, target, "binary_cross_entropy")
    _check_unit_interval(
        input, "input", "binary_cross_entropy", " (for logits use binary_cross_entropy_with_logits)"
    )
    _check_unit_interval(target, "target", "binary_cross_entropy")
    return reduce_loss(BinaryCrossEntropy.apply(input, target), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between sigmoid(input) and targets in [0, 1], from logits; one shape."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    input, target = _same_shape_pair(input, target, "binary_cross_entropy_with_logits")
    _check_unit_interval(target, "target", "binary_cross_entropy_with_logits")
    return reduce_loss(BinaryCrossEntropyWithLogits.apply(input, target), reduction)


def nll_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -input[n, target[n]]: input (N, C) log-probabilities (e.g.
    from log_softmax), target (N,) class indices in [0, C)."""
    check_reduction(reduction, "nll_loss")
    input = as_tensor(input)
    _check_floating(input, "input", "nll_loss")
    if input.ndim != 2:
        raise ShapeError(
            f"nll_loss: input must be (N, C) log-probabilities; got shape {input.shape}"
        )
    n, c = input.shape
    target = target if isinstance(target, Tensor) else Tensor(target)
    if target.dtype.kind not in "iu":
        raise DTypeError(
            f"nll_loss: target must hold integer class indices; got dtype {target.dtype}"
        )
    if target.shape != (n,):
        raise ShapeError(
            f"nll_loss: target of shape {target.shape} does not fit input of shape "
            f"{input.shape}; expected ({n},)"
        )
    if n and (int(target.data.min()) < 0 or int(target.data.max()) >= c):
        raise ArgumentError(
            f"nll_loss: class targets must lie in [0, {c}); got values from "
            f"{int(target.data.min())} to {int(target.data.max())}"
        )
    rows = get_array_module(target.data).arange(n)
    return reduce_loss(-getitem(input, (rows, target.data)), reduction)


def _same_shape_pair(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    """input and target as floating tensors of one shape (an array target takes input's dtype)."""
    input = as_tensor(input)
    _check_floating(input, "input", op)
    target = as_tensor(target, input)
    _check_floating(target, "target", op)
    if target.shape != input.shape:
        raise ShapeError(
            f"{op}: target of shape {target.shape} does not match input of shape "
            f"{input.shape}; expected the same shape"
        )
    return input, target


def _check_floating(x: Tensor, name: str, op: str) -> None:
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be floating point; got dtype {x.dtype}")


def _check_unit_interval(x: Tensor, name: str, op: str, hint: str = "") -> None:
    if x.size and (float(x.data.min()) < 0 or float(x.data.max()) > 1):
        raise ArgumentError(
            f"{op}: {name} must lie in [0, 1]; got values from {float(x.data.min())} to "
            f"{float(x.data.max())}{hint}"
        )
