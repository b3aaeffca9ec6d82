"""Losses: cross-entropy on logits (numerically stable log-softmax inside), negative
log-likelihood, binary cross-entropy on probabilities or logits, mean squared and absolute error.

Weights. Every loss takes ``sample_weight`` (N,): sample n's loss (each of its elements,
for the elementwise losses) is multiplied by w_n, and ``reduction="mean"`` becomes the
weighted mean sum_n w_n l_n / sum_n w_n, so an integer weight k counts a sample as k
copies of it. Cross-entropy and NLL also take ``weight`` (C,) per class, as PyTorch
defines it: sample n is scaled by weight[target_n] and, for class targets, the mean
divides by sum_n weight[target_n] (by N for probability targets).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import Array, get_array_module
from chainrule.backend.checks import flagged
from chainrule.checks import check_number
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops._operands import as_tensor
from chainrule.ops.activation import softmax, stable_sigmoid
from chainrule.ops.elementwise import abs
from chainrule.ops.shape import getitem

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {REDUCTIONS}; got {reduction!r}")


def reduce_loss(
    per_sample: Tensor,
    reduction: str,
    sample_weight: Array | None = None,
    denominator: Array | float | None = None,
) -> Tensor:
    """Per-sample losses (N, ...) -> mean, sum, or left as they are.

    With ``sample_weight`` (N,) each sample's losses are scaled by its weight and the mean
    divides by the total weight of the elements (``denominator`` when the caller knows a
    different one, e.g. the class weights already applied to the losses).
    """
    if sample_weight is not None:
        shape = (len(sample_weight),) + (1,) * (per_sample.ndim - 1)
        per_sample = per_sample * Tensor._wrap(sample_weight.reshape(shape), False)
        if denominator is None:
            denominator = sample_weight.sum() * (per_sample.size // max(len(sample_weight), 1))
    if reduction == "mean":
        return per_sample.mean() if denominator is None else per_sample.sum() / denominator
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def check_sample_weight(sample_weight: TensorLike | None, like: Tensor, op: str) -> Array | None:
    """``sample_weight`` as a backend array (N,) of ``like``'s dtype: finite, >= 0; or None."""
    if sample_weight is None:
        return None
    weight = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
    xp = get_array_module(like.data)
    weight = xp.asarray(weight)
    if weight.dtype.kind not in "iufb":
        raise DTypeError(f"{op}: sample_weight must hold numbers; got dtype {weight.dtype}")
    weight = weight.astype(like.dtype, copy=False)
    n = like.shape[0] if like.ndim else 1
    if weight.shape != (n,):
        raise ShapeError(
            f"{op}: sample_weight must have shape ({n},), one weight per sample of the input "
            f"{like.shape}; got {weight.shape}"
        )
    if n and (not bool(xp.isfinite(weight).all()) or float(weight.min()) < 0):
        raise ArgumentError(
            f"{op}: sample_weight must be finite and >= 0; got values from "
            f"{float(weight.min())} to {float(weight.max())}"
        )
    return weight


def check_class_weight(weight: TensorLike | None, like: Tensor, op: str) -> Array | None:
    """Class weights (C,) as a backend array of ``like``'s dtype: finite, >= 0; or None."""
    if weight is None:
        return None
    data = weight.data if isinstance(weight, Tensor) else weight
    xp = get_array_module(like.data)
    data = xp.asarray(data)
    if data.dtype.kind not in "iufb":
        raise DTypeError(f"{op}: weight must hold numbers; got dtype {data.dtype}")
    data = data.astype(like.dtype, copy=False)
    c = like.shape[1]
    if data.shape != (c,):
        raise ShapeError(
            f"{op}: weight must have shape ({c},), one weight per class of the input "
            f"{like.shape}; got {data.shape}"
        )
    if not bool(xp.isfinite(data).all()) or float(data.min()) < 0:
        raise ArgumentError(
            f"{op}: weight must be finite and >= 0; got values from {float(data.min())} to "
            f"{float(data.max())}"
        )
    return data


class CrossEntropy(Function):
    """Per-sample -sum_c a_c log softmax(z)_c for logits z (N, C) and target weights a.

    a is the target distribution q, times the class weights w when given (a_c = w_c q_c).
    Integer targets are one-hot q, kept sparse. dL/dz = softmax(z) sum_c a_c - a, which is
    softmax(z) - q without weights: the famous simple gradient, and the reason the softmax
    and the log are fused into one op.
    """

    @staticmethod
    def forward(ctx, logits, target, smoothing=0.0, weight=None):
        xp = get_array_module(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - log_norm
        n, c = logits.shape
        if target.dtype.kind in "iu":
            picked = log_probs[xp.arange(n), target]
            scale = 1 - smoothing if weight is None else (1 - smoothing) * weight[target]
            loss = -scale * picked
            if smoothing:
                spread = log_probs if weight is None else log_probs * weight
                loss -= smoothing / c * spread.sum(axis=1)
        else:
            if weight is not None:
                target = target * weight
            loss = -(target * log_probs).sum(axis=1)
        ctx.save_for_backward(log_probs, target)
        ctx.smoothing, ctx.weight = smoothing, weight
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        log_probs, target = ctx.saved
        smoothing, weight = ctx.smoothing, ctx.weight
        xp = get_array_module(log_probs)
        n, c = log_probs.shape
        grad = xp.exp(log_probs)  # softmax
        rows = xp.arange(n)
        if target.dtype.kind in "iu" and weight is None:
            grad[rows, target] -= 1 - smoothing
            if smoothing:
                grad -= smoothing / c
        elif target.dtype.kind in "iu":
            picked = (1 - smoothing) * weight[target]
            grad *= (picked + smoothing / c * weight.sum())[:, None]  # softmax * sum_c a_c
            grad[rows, target] -= picked
            if smoothing:
                grad -= smoothing / c * weight
        else:
            # NOTE: not softmax - a: probability targets need not sum to 1 (or be weighted).
            grad = grad * target.sum(axis=1, keepdims=True) - target
        grad *= grad_loss[:, None]
        return grad, None

    @staticmethod
    def backward_graph(ctx, grad_loss):
        # the target weights a as one dense constant (N, C)
        from chainrule.ops.activation import Softmax

        log_probs, target = ctx.saved
        smoothing, weight = ctx.smoothing, ctx.weight
        xp = get_array_module(log_probs)
        n, c = log_probs.shape
        if target.dtype.kind in "iu":
            a = xp.zeros((n, c), dtype=log_probs.dtype)
            a[xp.arange(n), target] = 1 - smoothing
            if weight is not None:
                a *= weight[target][:, None]
            if smoothing:
                a += smoothing / c * (1.0 if weight is None else weight)
        else:
            a = target
        # dL/dz = softmax(z) sum_c a_c - a, as backward, with softmax(z) an op
        probs = Softmax.apply(ctx.inputs[0], axis=1)
        grad = (probs * a.sum(axis=1, keepdims=True) - a) * grad_loss.reshape(n, 1)
        return grad, None


def cross_entropy(
    logits: Tensor,
    target: Tensor | Array,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    weight: TensorLike | None = None,
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Cross-entropy between softmax(logits) and the target.

    logits: (N, C). target: class indices (N,) in [0, C), or probabilities (N, C).
    ``label_smoothing`` s mixes the target with the uniform distribution:
    q = (1 - s) q + s / C (s, not eps: eps is the numerical guard of norms and
    optimisers). ``weight`` (C,) weighs the classes as in PyTorch, and ``sample_weight``
    (N,) the samples (see the module's docstring for the mean).
    """
    check_reduction(reduction, "cross_entropy")
    logits = as_tensor(logits)
    if not isinstance(target, Tensor):  # probabilities keep the logits' precision
        floating = getattr(target, "dtype", None) is not None and target.dtype.kind == "f"
        target = as_tensor(target, logits if floating else None, name="target")
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
        if n:
            _check_classes(target, c, "cross_entropy")
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
    class_weight = check_class_weight(weight, logits, "cross_entropy")
    sample_weight = check_sample_weight(sample_weight, logits, "cross_entropy")
    per_sample = CrossEntropy.apply(
        logits, Tensor._wrap(target_data, False), smoothing=smoothing, weight=class_weight
    )
    denominator = None
    if class_weight is not None and target.dtype.kind in "iu":  # PyTorch: sum_n w[t_n]
        picked = class_weight[target_data]
        denominator = (picked if sample_weight is None else picked * sample_weight).sum()
    return reduce_loss(per_sample, reduction, sample_weight, denominator)


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

    @staticmethod
    def backward_graph(ctx, grad_loss):
        from chainrule.ops.elementwise import clip

        p, t = ctx.inputs
        need_p, need_t = ctx.needs_input_grad
        grad_p = grad_loss * (p - t) / clip(p * (1 - p), min=1e-12) if need_p else None
        grad_t = None
        if need_t:
            log_p = clip(clip(p, min=1e-45).log(), min=-100.0)
            log_q = clip(clip(1 - p, min=1e-45).log(), min=-100.0)
            grad_t = grad_loss * (log_q - log_p)
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

    @staticmethod
    def backward_graph(ctx, grad_loss):
        from chainrule.ops.elementwise import sigmoid

        z, t = ctx.inputs
        need_z, need_t = ctx.needs_input_grad
        grad_z = grad_loss * (sigmoid(z) - t) if need_z else None
        grad_t = -grad_loss * z if need_t else None
        return grad_z, grad_t


def mse_loss(
    input: Tensor,
    target: TensorLike,
    reduction: str = "mean",
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Mean squared error: (input - target)^2, reduced. input and target of one shape."""
    check_reduction(reduction, "mse_loss")
    input, target = _same_shape_pair(input, target, "mse_loss")
    sample_weight = check_sample_weight(sample_weight, input, "mse_loss")
    diff = input - target
    return reduce_loss(diff * diff, reduction, sample_weight)


def l1_loss(
    input: Tensor,
    target: TensorLike,
    reduction: str = "mean",
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Mean absolute error: |input - target|, reduced (gradient 0 where they are equal)."""
    check_reduction(reduction, "l1_loss")
    input, target = _same_shape_pair(input, target, "l1_loss")
    sample_weight = check_sample_weight(sample_weight, input, "l1_loss")
    return reduce_loss(abs(input - target), reduction, sample_weight)


def binary_cross_entropy(
    input: Tensor,
    target: TensorLike,
    reduction: str = "mean",
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Binary cross-entropy between probabilities ``input`` and targets in [0, 1], one shape.

    For logits, binary_cross_entropy_with_logits is exact where this one floors log at -100.
    """
    check_reduction(reduction, "binary_cross_entropy")
    input, target = _same_shape_pair(input, target, "binary_cross_entropy")
    _check_unit_interval(
        input, "input", "binary_cross_entropy", " (for logits use binary_cross_entropy_with_logits)"
    )
    _check_unit_interval(target, "target", "binary_cross_entropy")
    sample_weight = check_sample_weight(sample_weight, input, "binary_cross_entropy")
    return reduce_loss(BinaryCrossEntropy.apply(input, target), reduction, sample_weight)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: TensorLike,
    reduction: str = "mean",
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Binary cross-entropy between sigmoid(input) and targets in [0, 1], from logits; one shape."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    input, target = _same_shape_pair(input, target, "binary_cross_entropy_with_logits")
    _check_unit_interval(target, "target", "binary_cross_entropy_with_logits")
    sample_weight = check_sample_weight(sample_weight, input, "binary_cross_entropy_with_logits")
    per_element = BinaryCrossEntropyWithLogits.apply(input, target)
    return reduce_loss(per_element, reduction, sample_weight)


def nll_loss(
    input: Tensor,
    target: TensorLike,
    reduction: str = "mean",
    weight: TensorLike | None = None,
    sample_weight: TensorLike | None = None,
) -> Tensor:
    """Negative log-likelihood -input[n, target[n]]: input (N, C) log-probabilities (e.g.
    from log_softmax), target (N,) class indices in [0, C). ``weight`` (C,) scales sample
    n by weight[target[n]] and the mean divides by their sum, as in PyTorch;
    ``sample_weight`` (N,) weighs the samples."""
    check_reduction(reduction, "nll_loss")
    input = as_tensor(input)
    _check_floating(input, "input", "nll_loss")
    if input.ndim != 2:
        raise ShapeError(
            f"nll_loss: input must be (N, C) log-probabilities; got shape {input.shape}"
        )
    n, c = input.shape
    target = as_tensor(target, name="target")
    if target.dtype.kind not in "iu":
        raise DTypeError(
            f"nll_loss: target must hold integer class indices; got dtype {target.dtype}"
        )
    if target.shape != (n,):
        raise ShapeError(
            f"nll_loss: target of shape {target.shape} does not fit input of shape "
            f"{input.shape}; expected ({n},)"
        )
    if n:
        _check_classes(target, c, "nll_loss")
    class_weight = check_class_weight(weight, input, "nll_loss")
    sample_weight = check_sample_weight(sample_weight, input, "nll_loss")
    rows = get_array_module(target.data).arange(n)
    per_sample = -getitem(input, (rows, target.data))
    if class_weight is None:
        return reduce_loss(per_sample, reduction, sample_weight)
    picked = class_weight[target.data]
    per_sample = per_sample * Tensor._wrap(picked, False)
    denominator = (picked if sample_weight is None else picked * sample_weight).sum()
    return reduce_loss(per_sample, reduction, sample_weight, denominator)


def distillation_loss(
    logits: Tensor,
    soft_targets: TensorLike,
    target: TensorLike,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> Tensor:
    """Knowledge distillation (Hinton, Vinyals & Dean 2015), the mean over the batch of

        alpha T^2 CE(soft_targets, softmax(logits / T)) + (1 - alpha) CE(target, softmax(logits))

    logits: the student's (N, C); soft_targets: the teacher's probabilities at the same
    temperature T, softmax(z_teacher / T) (an ensemble's: their mean), (N, C); target:
    the true classes (N,). The T^2 keeps the soft term's gradients, which scale as
    1 / T^2, comparable to the hard term's as T changes.
    """
    op = "distillation_loss"
    temperature = check_number(temperature, "temperature", op)
    alpha = check_number(alpha, "alpha", op)
    if not temperature > 0:
        raise ArgumentError(f"{op}: temperature must be positive; got temperature={temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ArgumentError(f"{op}: alpha must be in [0, 1]; got alpha={alpha}")
    logits = as_tensor(logits)
    soft_targets = as_tensor(soft_targets, logits)
    _check_floating(soft_targets, "soft_targets", op)
    if soft_targets.shape != logits.shape:
        raise ShapeError(
            f"{op}: soft_targets must have the logits' shape {logits.shape}; got "
            f"{soft_targets.shape}"
        )
    soft = cross_entropy(logits / temperature, soft_targets) * (temperature * temperature)
    if alpha == 1.0:
        return soft
    return soft * alpha + cross_entropy(logits, target) * (1.0 - alpha)


def soft_targets(teacher_logits: TensorLike, temperature: float = 4.0) -> Tensor:
    """A teacher's softened class probabilities softmax(z / T): (N, C) or, for an
    ensemble, (M, N, C) logits whose M members' probabilities are averaged -> (N, C)."""
    temperature = check_number(temperature, "temperature", "soft_targets")
    if not temperature > 0:
        raise ArgumentError(
            f"soft_targets: temperature must be positive; got temperature={temperature}"
        )
    z = as_tensor(teacher_logits)
    _check_floating(z, "teacher_logits", "soft_targets")
    if z.ndim not in (2, 3):
        raise ShapeError(
            f"soft_targets: teacher_logits must be (N, C) or (M, N, C); got shape {z.shape}"
        )
    probabilities = softmax(z / temperature, axis=-1)
    return probabilities.mean(axis=0) if z.ndim == 3 else probabilities


def _same_shape_pair(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    """input and target as floating tensors of one shape (an array target takes input's dtype)."""
    input = as_tensor(input)
    _check_floating(input, "input", op)
    target = as_tensor(target, input, name="target")
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
    if x.size and _outside(x.data, 0, 1):
        raise ArgumentError(
            f"{op}: {name} must lie in [0, 1]; got values from {float(x.data.min())} to "
            f"{float(x.data.max())}{hint}"
        )


def _check_classes(target: Tensor, c: int, op: str) -> None:
    """Class targets must lie in [0, c): one flag, which the training loop may read later
    on a device (``backend.checks``) rather than wait for the device every step."""

    def error() -> ArgumentError:
        return ArgumentError(
            f"{op}: class targets must lie in [0, {c}); got values from "
            f"{int(target.data.min())} to {int(target.data.max())}"
        )

    values = target.data
    if flagged(((values < 0) | (values > c - 1)).any(), error):
        raise error()


def _outside(values: Any, low: float, high: float) -> bool:
    """Whether any of ``values`` lies outside [low, high] (NaN does not: it flows on, to be
    caught where NaNs are).

    NOTE: one reduction and one read, not min() and max() read apart: on a GPU each read
    is a device-to-host copy that waits for the device, and this runs every step.
    """
    return bool(((values < low) | (values > high)).any())
