"""2-D pooling: max, average and L^p, each a loop over kernel offsets of strided views.

Offset (i, j) of every window at once is the strided view x[..., i::sh, j::sw] (cut to
H' x W'), so a pool is kh*kw elementwise passes over (N, C, H', W') arrays: no gather,
no copy of the windows, whether they overlap or not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import Array, get_array_module
from chainrule.backend.kernels import max_pool_backward_compiled, max_pool_compiled
from chainrule.checks import is_number
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.ops._composite import local_grads
from chainrule.ops._operands import as_tensor
from chainrule.ops._windows import (
    Pair,
    as_pair,
    check_window_fits,
    crop_spatial,
    output_size,
    pad_spatial,
)
from chainrule.ops.shape import GetItem, ScatterAdd


@functools.lru_cache(maxsize=64)
def window_offsets(kernel: Pair, stride: Pair, out_size: Pair) -> tuple[tuple[object, ...], ...]:
    """For each kernel offset (i, j), row-major, the index of that entry of every window."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
    return tuple(
        (..., slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    )


def in_layout(a: Array, strides: tuple[int, ...]) -> Array:
    """a itself if its memory is laid out as ``strides`` say, else a copy that is.

    A gradient arriving in another layout than the forward arrays (a dense layer's,
    after a flatten) is converted once, not in every one of the kh*kw passes.
    """
    if all(s == t for s, t, n in zip(a.strides, strides, a.shape) if n > 1):
        return a
    xp = get_array_module(a)
    order = sorted(range(a.ndim), key=lambda axis: -abs(strides[axis]))  # outermost first
    out = xp.empty([a.shape[axis] for axis in order], dtype=a.dtype)
    out = out.transpose([order.index(axis) for axis in range(a.ndim)])
    out[...] = a
    return out


def window_sum(x: Array, offsets: tuple[tuple[object, ...], ...]) -> Array:
    """sum over the window of x: (..., H, W) -> (..., H', W'), a fresh array."""
    xp = get_array_module(x)
    if len(offsets) == 1:
        return x[offsets[0]].copy()
    total = xp.add(x[offsets[0]], x[offsets[1]])
    for index in offsets[2:]:
        total += x[index]
    return total


def tiles(shape: tuple[int, ...], kernel: Pair, stride: Pair) -> bool:
    """Whether the windows cover (..., H, W) exactly once: kernel == stride, dividing H and W."""
    return kernel == stride and shape[-2] % kernel[0] == 0 and shape[-1] % kernel[1] == 0


def spread(h: Array, shape: tuple[int, ...], kernel: Pair, stride: Pair) -> Array:
    """The adjoint of ``window_sum``: each window's value h (..., H', W') added to its
    kh*kw positions of a zero array of ``shape``."""
    xp = get_array_module(h)
    offsets = window_offsets(kernel, stride, h.shape[-2:])
    (ho, wo), (kh, kw) = h.shape[-2:], kernel
    if tiles(shape, kernel, stride):
        # The windows tile the input: one broadcast write, no zero-fill, no adds.
        grad = xp.empty_like(h, shape=shape)
        grad.reshape(*shape[:-2], ho, kh, wo, kw)[...] = h[..., :, None, :, None]
        return grad
    grad = xp.zeros_like(h, shape=shape)
    for index in offsets:
        grad[index] += h
    return grad


class MaxPool2d(Function):
    """y = max over each window; the gradient goes to the window's first maximum, as in PyTorch.

    x (N, C, H, W) -> (N, C, H', W'). Padding is -inf, so it never wins.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0)):
        ctx.geometry = (kernel_size, stride, padding, None)
        compiled = max_pool_compiled(x, kernel_size, stride, padding)
        if compiled is not None:  # one pass, keeping the argmax of each window
            y, state = compiled
            ctx.save_for_backward(state)
            return y
        xp = get_array_module(x)
        x_padded = pad_spatial(x, padding, -math.inf)
        offsets = window_offsets(
            kernel_size, stride, output_size(x.shape[2:], kernel_size, stride, padding)
        )
        y = (
            x_padded[offsets[0]].copy()
            if len(offsets) == 1
            else xp.maximum(x_padded[offsets[0]], x_padded[offsets[1]])
        )
        for index in offsets[2:]:
            xp.maximum(y, x_padded[index], out=y)
        ctx.save_for_backward(x_padded, y)
        ctx.geometry = (kernel_size, stride, padding, offsets)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        kernel_size, stride, padding, offsets = ctx.geometry
        if offsets is None:
            (state,) = ctx.saved
            return (max_pool_backward_compiled(grad_y, state, kernel_size, stride, padding),)
        x_padded, y = ctx.saved
        xp = get_array_module(grad_y)
        grad_y = in_layout(grad_y, y.strides)
        tiled = tiles(x_padded.shape, kernel_size, stride)
        grad = xp.empty_like(x_padded) if tiled else xp.zeros_like(x_padded)
        overlapping = stride[0] < kernel_size[0] or stride[1] < kernel_size[1]
        unclaimed = None  # windows whose maximum no earlier offset has taken
        for index in offsets:
            if index is offsets[-1] and unclaimed is not None:
                hit = unclaimed  # not taken before the last offset: it is here
            else:
                hit = x_padded[index] == y
                if unclaimed is None:
                    unclaimed = ~hit
                else:
                    hit &= unclaimed
                    unclaimed ^= hit
            if overlapping:
                grad[index] += grad_y * hit
            else:  # each position lies in at most one window: write, don't add
                xp.multiply(grad_y, hit, out=grad[index])
        return (crop_spatial(grad, padding),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        # dx is a scatter of grad_y to each window's first maximum: linear in grad_y,
        # through an index that only x's order decides (so no gradient flows to x).
        x = ctx.inputs[0]
        kernel_size, stride, padding, _ = ctx.geometry
        index, padded_shape = max_pool_argmax(x.data, kernel_size, stride, padding)
        flat = ScatterAdd.apply(
            grad_y.reshape(-1), shape=(math.prod(padded_shape),), index=index, advanced=True
        )
        grad = flat.reshape(padded_shape)
        (ph, pw), (h, w) = padding, x.shape[2:]
        return (GetItem.apply(grad, index=(..., slice(ph, ph + h), slice(pw, pw + w))),)


class AvgPool2d(Function):
    """y = mean over each window: x (N, C, H, W) -> (N, C, H', W').

    Zero padding counts in the mean, as by default in PyTorch.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0)):
        x_padded = pad_spatial(x, padding)
        offsets = window_offsets(
            kernel_size, stride, output_size(x.shape[2:], kernel_size, stride, padding)
        )
        y = window_sum(x_padded, offsets)
        y *= 1.0 / len(offsets)
        ctx.geometry = (x_padded.shape, kernel_size, stride, padding, y.strides)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        padded_shape, kernel_size, stride, padding, strides = ctx.geometry
        h = in_layout(grad_y, strides) * (1.0 / (kernel_size[0] * kernel_size[1]))
        grad = spread(h, padded_shape, kernel_size, stride)
        return (crop_spatial(grad, padding),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0]
        _, kernel_size, stride, padding, _ = ctx.geometry
        geometry = dict(kernel_size=kernel_size, stride=stride, padding=padding)
        return (AvgPool2dBackward.apply(grad_y, x_shape=x.shape, **geometry),)


class AvgPool2dBackward(Function):
    """y = avg_pool2d's dL/dx for upstream gradient g (each window's g / k spread over it);
    linear, its own gradient is avg_pool2d."""

    @staticmethod
    def forward(ctx, g, x_shape=(), kernel_size=(1, 1), stride=(1, 1), padding=(0, 0)):
        ctx.geometry = (kernel_size, stride, padding)
        n, c, h, w = x_shape
        padded_shape = (n, c, h + 2 * padding[0], w + 2 * padding[1])
        h_scaled = g * (1.0 / (kernel_size[0] * kernel_size[1]))
        return crop_spatial(spread(h_scaled, padded_shape, kernel_size, stride), padding)

    @staticmethod
    def backward(ctx, grad_y):
        kernel_size, stride, padding = ctx.geometry
        x_padded = pad_spatial(grad_y, padding)
        offsets = window_offsets(
            kernel_size, stride, output_size(grad_y.shape[2:], kernel_size, stride, padding)
        )
        y = window_sum(x_padded, offsets)
        y *= 1.0 / len(offsets)
        return (y,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        kernel_size, stride, padding = ctx.geometry
        geometry = dict(kernel_size=kernel_size, stride=stride, padding=padding)
        return (AvgPool2d.apply(grad_y, **geometry),)


def max_pool_argmax(
    x: Array, kernel: Pair, stride: Pair, padding: Pair
) -> tuple[Array, tuple[int, ...]]:
    """For each window of x (N, C, H, W), the flat position of its first maximum (row-major
    over the kernel, as the backward takes it) in the -inf-padded x: (index (N*C*H'*W',),
    padded shape). A loop over kernel offsets, not windows."""
    xp = get_array_module(x)
    x_padded = pad_spatial(x, padding, -math.inf)
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = output_size(x.shape[2:], kernel, stride, padding)
    best = rows = cols = None
    for i, j in ((i, j) for i in range(kh) for j in range(kw)):
        v = x_padded[..., i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
        if best is None:
            best, rows, cols = (
                v.copy(),
                xp.zeros(v.shape, dtype=xp.int64),
                xp.zeros(v.shape, dtype=xp.int64),
            )
            continue
        better = v > best  # strictly: a tie keeps the earlier offset
        best = xp.where(better, v, best)
        rows = xp.where(better, i, rows)
        cols = xp.where(better, j, cols)
    n, c, hp, wp = x_padded.shape
    rows = rows + (xp.arange(ho) * sh)[:, None]
    cols = cols + xp.arange(wo) * sw
    planes = xp.arange(n * c).reshape(n, c, 1, 1)
    return ((planes * hp + rows) * wp + cols).reshape(-1), x_padded.shape


class LPPool2d(Function):
    """y = ((1/k) sum_window x^p)^(1/p), k = kh*kw; dy/dx = x^(p-1) y^(1-p) / k (0 where y = 0)."""

    @staticmethod
    def forward(ctx, x, p=2.0, kernel_size=(1, 1), stride=(1, 1)):
        xp = get_array_module(x)
        offsets = window_offsets(
            kernel_size, stride, output_size(x.shape[2:], kernel_size, stride, (0, 0))
        )
        powered = x * x if p == 2 else x**p
        mean = window_sum(powered, offsets)
        mean *= 1.0 / len(offsets)
        y = xp.sqrt(mean) if p == 2 else mean ** (1.0 / p)
        ctx.save_for_backward(x, y)
        ctx.geometry = (p, kernel_size, stride)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, y = ctx.saved
        p, kernel_size, stride = ctx.geometry
        xp = get_array_module(x)
        # NOTE: a window of zeros (common after ReLU) has y = 0 and an infinite slope in
        # the root; its gradient is taken as 0, where autograd through sqrt gives NaN.
        positive = y > 0
        scale = (y if p == 2 else y ** (p - 1)) * float(kernel_size[0] * kernel_size[1])
        h = in_layout(grad_y, y.strides) * positive / xp.where(positive, scale, 1)
        grad = spread(h, x.shape, kernel_size, stride)
        grad *= x if p == 2 else x ** (p - 1)
        return (grad,)

    @staticmethod
    def backward_graph(ctx, grad_y):

        p, kernel_size, stride = ctx.geometry

        def composite(x):
            geometry = dict(kernel_size=kernel_size, stride=stride, padding=(0, 0))
            mean = AvgPool2d.apply(x * x if p == 2 else x**p, **geometry)
            return mean.sqrt() if p == 2 else mean ** (1.0 / p)

        return local_grads(ctx, grad_y, composite)


def pool_geometry(
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding: int | Sequence[int],
    op: str,
) -> tuple[Pair, Pair, Pair]:
    """(kernel, stride, padding) as checked pairs; stride defaults to the kernel, and
    padding may be at most half the kernel (a window must hold a real entry)."""
    kernel = as_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else as_pair(stride, "stride", op)
    padding = as_pair(padding, "padding", op, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ArgumentError(
            f"{op}: padding must be at most half the kernel size; got padding={padding} "
            f"for kernel_size={kernel}"
        )
    return kernel, stride, padding


def check_lp_norm(p: float, op: str) -> float:
    """p as a float, if it is a positive finite number."""
    if not is_number(p):
        raise ArgumentTypeError(f"{op}: p must be a number; got {p!r}")
    if not 0 < p < math.inf:
        raise ArgumentError(f"{op}: p must be positive and finite; got p={p}")
    return float(p)


def check_pool_input(x: TensorLike, kernel: Pair, padding: Pair, where: str) -> Tensor:
    """x as a tensor, if it is (N, C, H, W) with the ``kernel`` window fitting the padded
    H and W; else a ShapeError that names ``where`` (the op, or the layer)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"{where} got input of shape {tuple(x.shape)}; expected (N, C, H, W)")
    check_window_fits(x.shape, kernel, padding, where)
    return x


def _pool_input(
    x: Any, kernel_size: Any, stride: Any, padding: Any, op: str
) -> tuple[Tensor, Pair, Pair, Pair]:
    kernel, stride, padding = pool_geometry(kernel_size, stride, padding, op)
    return check_pool_input(x, kernel, padding, op), kernel, stride, padding


def max_pool2d(
    x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> Tensor:
    """Maximum of each window: x (N, C, H, W) -> (N, C, H', W'); stride defaults to kernel_size.

    H' = floor((H + 2 padding - kernel) / stride) + 1. Padding never wins the maximum.
    """
    x, kernel, stride, padding = _pool_input(x, kernel_size, stride, padding, "max_pool2d")
    return MaxPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding)


def avg_pool2d(
    x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> Tensor:
    """Mean of each window: x (N, C, H, W) -> (N, C, H', W'); zero padding counts in the mean."""
    x, kernel, stride, padding = _pool_input(x, kernel_size, stride, padding, "avg_pool2d")
    return AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding)


def lp_pool2d(
    x: Tensor, p: float, kernel_size: int | Pair, stride: int | Pair | None = None
) -> Tensor:
    """L^p pooling: ((1/k) sum_window x^p)^(1/p), k = kh*kw: x (N, C, H, W) -> (N, C, H', W').

    The root of the MEAN of the p-th powers (p=2: the lecture's L2 pooling, an RMS);
    PyTorch's LPPool2d takes the root of the SUM, k^(1/p) times this. As in PyTorch, x^p
    of a negative x is used as is, so odd or fractional p want non-negative inputs.
    """
    p = check_lp_norm(p, "lp_pool2d")
    x, kernel, stride, _ = _pool_input(x, kernel_size, stride, 0, "lp_pool2d")
    return LPPool2d.apply(x, p=p, kernel_size=kernel, stride=stride)
