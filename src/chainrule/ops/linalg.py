"""Matrix products: batched matmul, and the fused affine map of a dense layer."""

from __future__ import annotations

import math

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import get_array_module
from chainrule.errors import ShapeError
from chainrule.ops._operands import as_tensor, binary


class MatMul(Function):
    """y = a @ b with numpy's rules (1-D operands promoted, batch axes broadcast).

    dy/da = grad_y @ b^T, dy/db = a^T @ grad_y; the engine sums broadcast batch axes.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_y):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        xp = get_array_module(grad_y)
        # Give 1-D operands their matrix shape back: a (k,) was (1, k), b (k,) was (k, 1).
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_y
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        grad_a = grad_b = None
        if need_a:
            grad_a = g @ xp.swapaxes(b2, -1, -2)
            grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
        if need_b:
            grad_b = xp.swapaxes(a2, -1, -2) @ g
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
        b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
        g = grad_y
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        if a.ndim == 1:
            g = g.unsqueeze(-2)
        grad_a = grad_b = None
        if need_a:
            grad_a = matmul(g, b2.transpose(-1, -2))
            grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
        if need_b:
            grad_b = matmul(a2.transpose(-1, -2), g)
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b


SMALL_BATCH = 64  # rows below which a dense layer's forward is W @ x.T ...
WIDE_WEIGHT = 1 << 16  # ... when W has at least this many entries


class Linear(Function):
    """y = x W^T + b for x (*, in), W (out, in), b (out,) -> y (*, out).

    One node instead of three (transpose, matmul, add): a dense layer's hot path.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        rows = math.prod(x.shape[:-1])
        xp = get_array_module(x)
        if rows < SMALL_BATCH and weight.size >= WIDE_WEIGHT and xp.__name__ == "numpy":
            # NOTE: OpenBLAS is slow at x @ W.T with few rows (it repacks all of W.T):
            # W @ x.T, then a copy of the small result, measured 1.6x faster at 10 x 640
            # by 1000 (mini-batch 10 into a 1000-unit layer); no gain from 64 rows up
            y2 = xp.ascontiguousarray((weight @ x.reshape(rows, x.shape[-1]).T).T)
            y = y2.reshape(*x.shape[:-1], weight.shape[0])
        else:
            y = x @ weight.T
        if bias is not None:
            y += bias  # y is fresh from the matmul: adding in place saves a pass
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved
        need = ctx.needs_input_grad
        grad_x = grad_y @ weight if need[0] else None
        rows = math.prod(grad_y.shape[:-1])  # not -1: that is ambiguous for 0 features
        g2 = grad_y.reshape(rows, grad_y.shape[-1])
        grad_w = g2.T @ x.reshape(rows, x.shape[-1]) if need[1] else None
        grad_b = g2.sum(axis=0) if len(need) > 2 and need[2] else None
        return grad_x, grad_w, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        x, weight = ctx.inputs[:2]
        need = ctx.needs_input_grad
        grad_x = matmul(grad_y, weight) if need[0] else None
        rows = math.prod(grad_y.shape[:-1])
        g2 = grad_y.reshape(rows, grad_y.shape[-1])
        grad_w = matmul(g2.T, x.reshape(rows, x.shape[-1])) if need[1] else None
        grad_b = g2.sum(axis=0) if len(need) > 2 and need[2] else None
        return grad_x, grad_w, grad_b


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """a @ b: matrix product, batched over leading axes; 1-D operands act as vectors."""
    a, b = binary(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: operands must have at least 1 dimension; got shapes {a.shape} and {b.shape}"
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last axis of the "
            f"first ({inner_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} "
            f"axis of the second ({inner_b})"
        )
    return MatMul.apply(a, b)


def check_linear(x: TensorLike, weight: Tensor, where: str) -> Tensor:
    """x as a tensor, if it fits ``weight`` (out, in): x (*, in); else a ShapeError that
    names ``where`` (the op, or the layer that forwards through it)."""
    x = as_tensor(x)
    if weight.ndim != 2:
        raise ShapeError(f"{where}: weight must be 2-D (out, in); got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"{where} got input of shape {tuple(x.shape)}; expected (*, {weight.shape[1]})"
        )
    return x


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b: x (*, in_features), weight (out_features, in_features), bias (out_features,)."""
    x = check_linear(x, weight, f"linear with weight of shape {tuple(weight.shape)}")
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
