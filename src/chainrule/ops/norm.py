"""Batch normalisation as one fused op: statistics, normalisation and affine map together."""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.creation import ones, zeros
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.checks import check_number
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops._composite import local_grads
from chainrule.ops._operands import as_tensor


class BatchNorm(Function):
    """y = gamma (x - mu) / sqrt(sigma^2 + eps) + beta per channel (axis 1), x (N, C, *).

    Training: mu, sigma^2 are the batch's (biased) statistics over every axis but 1, and
    the running stats are updated in place. Eval: mu, sigma^2 are the running stats.
    Training backward, with x^ the normalised input and means over each channel:
    dL/dx = gamma / sqrt(sigma^2 + eps) * (g - mean(g) - x^ mean(g x^)).
    """

    @staticmethod
    def forward(
        ctx,
        x,
        weight,
        bias,
        running_mean=None,
        running_var=None,
        training=True,
        momentum=0.1,
        eps=1e-5,
    ):
        xp = get_array_module(x)
        x3, batch_last = _as_rows(x)  # (A, C, B): every op below reduces over A and B
        axes, shape = (0, 2), (1, x3.shape[1], 1)
        count = x.size // x.shape[1]  # values per channel
        if training:
            mean = x3.mean(axis=axes)
            x_hat = x3 - mean.reshape(shape)
            var = _channel_dot(x_hat, x_hat) / count
            if running_mean is not None:
                # running = (1 - momentum) running + momentum batch; the variance unbiased.
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += (momentum * count / (count - 1)) * var
        else:
            mean = running_mean.astype(x.dtype, copy=False)  # float32 stays float32
            var = running_var.astype(x.dtype, copy=False)
            x_hat = x3 - mean.reshape(shape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        ctx.stats = (mean, eps)
        x_hat *= inv_std.reshape(shape)  # x_hat is our own array: normalise it in place
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.axes, ctx.shape, ctx.count, ctx.training = axes, shape, count, training
        ctx.layout = (x.shape, batch_last)
        y = x_hat * weight.reshape(shape)
        y += bias.reshape(shape)
        return _from_rows(y, x.shape, batch_last)

    @staticmethod
    def backward(ctx, grad_y):
        x_hat, inv_std, weight = ctx.saved
        xp = get_array_module(grad_y)
        shape = ctx.shape
        x_shape, batch_last = ctx.layout
        grad_y = _rows_like(grad_y, batch_last)
        need_x, need_weight, need_bias = ctx.needs_input_grad
        sum_g = grad_y.sum(axis=ctx.axes) if need_bias or (need_x and ctx.training) else None
        sum_g_x_hat = (
            _channel_dot(grad_y, x_hat) if need_weight or (need_x and ctx.training) else None
        )
        grad_x = None
        if need_x:
            scale = (weight * inv_std).reshape(shape)
            if ctx.training:
                # scale (g - mean(g) - x^ mean(g x^)), in four passes and one new array
                grad_x = x_hat * (sum_g_x_hat / ctx.count).reshape(shape)
                grad_x += (sum_g / ctx.count).reshape(shape)
                xp.subtract(grad_y, grad_x, out=grad_x)
                grad_x *= scale
            else:
                grad_x = grad_y * scale
            grad_x = _from_rows(grad_x, x_shape, batch_last)
        return grad_x, (sum_g_x_hat if need_weight else None), (sum_g if need_bias else None)

    @staticmethod
    def backward_graph(ctx, grad_y):
        # The forward again, composed of ops (the running statistics left alone).

        mean, eps = ctx.stats
        inv_std = ctx.saved[1]
        training = ctx.training

        def composite(x, weight, bias):
            axes = (0, *range(2, x.ndim))
            shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
            if training:
                centred = x - x.mean(axis=axes, keepdims=True)
                variance = (centred * centred).mean(axis=axes, keepdims=True)
                x_hat = centred / (variance + eps).sqrt()
            else:
                x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
            return x_hat * weight.reshape(shape) + bias.reshape(shape)

        return local_grads(ctx, grad_y, composite)


def _as_rows(x: Any) -> tuple[Any, bool]:
    """x (N, C, *) as an (A, C, B) array whose reductions over A and B stream: (1, C, H*W*N)
    for the batch-last (C, H, W, N) memory a conv leaves (a view, ``True``), else
    (N, C, prod(*)) (a view of a C-contiguous x)."""
    if x.ndim == 4:
        t = x.transpose(1, 2, 3, 0)
        if t.flags.c_contiguous:
            return t.reshape(1, x.shape[1], -1), True
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:])), False


def _rows_like(g: Any, batch_last: bool) -> Any:
    """A gradient of x's shape in the (A, C, B) form ``_as_rows`` chose for x."""
    if batch_last:
        t = get_array_module(g).ascontiguousarray(g.transpose(1, 2, 3, 0))
        return t.reshape(1, g.shape[1], -1)
    return g.reshape(g.shape[0], g.shape[1], math.prod(g.shape[2:]))


def _from_rows(a: Any, shape: tuple[int, ...], batch_last: bool) -> Any:
    """The inverse of ``_as_rows``: an (A, C, B) array as x's shape, in the same layout."""
    if batch_last:
        n, c, h, w = shape
        return a.reshape(c, h, w, n).transpose(3, 0, 1, 2)
    return a.reshape(shape)


def _channel_dot(a, b):
    """sum over every axis but 1 of a * b, for a, b (N, C, *) -> (C,); no (N, C, *) temporary."""
    xp = get_array_module(a, b)
    shape = (*a.shape[:2], math.prod(a.shape[2:]))  # not -1: ambiguous for an empty batch
    return xp.einsum("ncl,ncl->c", a.reshape(shape), b.reshape(shape))


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over every axis but the channel axis 1: x (N, C) or (N, C, *).

    In training, normalises with the batch statistics and updates ``running_mean`` and
    ``running_var`` in place (by ``momentum``; the variance unbiased, as PyTorch); in eval,
    normalises with them. Running stats may be None in training only (nothing tracked).
    weight (gamma) and bias (beta) are (C,), or None for 1 and 0.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C) or (N, C, *); got shape {x.shape}")
    if x.dtype.kind != "f":
        raise DTypeError(f"batch_norm: input must be floating point; got dtype {x.dtype}")
    channels = x.shape[1]
    if channels == 0:
        raise ShapeError(f"batch_norm: input of shape {x.shape} has no channels (axis 1)")
    momentum = check_number(momentum, "momentum", "batch_norm")
    eps = check_number(eps, "eps", "batch_norm")
    if not 0 <= momentum <= 1:
        raise ArgumentError(f"batch_norm: momentum must be in [0, 1]; got momentum={momentum}")
    if not eps > 0:
        raise ArgumentError(f"batch_norm: eps must be positive; got eps={eps}")
    if (running_mean is None) != (running_var is None):
        raise ArgumentError("batch_norm: give both running_mean and running_var, or neither")
    if running_mean is None and not training:
        raise ArgumentError("batch_norm: eval mode (training=False) needs running_mean and var")
    if training and x.size // max(channels, 1) <= 1:
        raise ShapeError(
            f"batch_norm: training needs more than one value per channel to estimate a "
            f"variance; got input of shape {x.shape}"
        )
    named = {"running_mean": running_mean, "running_var": running_var}
    named.update(weight=weight, bias=bias)
    for name, t in named.items():
        if t is not None and tuple(t.shape) != (channels,):
            raise ShapeError(
                f"batch_norm: {name} of shape {tuple(t.shape)} does not fit input of shape "
                f"{x.shape}; expected ({channels},)"
            )
    weight = ones(channels, dtype=x.dtype, device=x.device) if weight is None else weight
    bias = zeros(channels, dtype=x.dtype, device=x.device) if bias is None else bias
    return BatchNorm.apply(
        x,
        as_tensor(weight, x),
        as_tensor(bias, x),
        running_mean=_data(running_mean),
        running_var=_data(running_var),
        training=training,
        momentum=float(momentum),
        eps=float(eps),
    )


def _data(t: Any) -> Any:
    return t.data if isinstance(t, Tensor) else t
