"""Changing a tensor's dtype or device, differentiably."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops._operands import as_tensor


class AsType(Function):
    """y = x in another dtype; the gradient is cast back."""

    @staticmethod
    def forward(ctx, x, dtype=None):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y.astype(ctx.dtype),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (AsType.apply(grad_y, dtype=ctx.dtype),)


class ToDevice(Function):
    """y = x on another device; the gradient travels back."""

    @staticmethod
    def forward(ctx, x, device="cpu"):
        ctx.device = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, grad_y):
        return (backend.to_device(grad_y, ctx.device),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (ToDevice.apply(grad_y, device=ctx.device),)


def astype(x: Tensor, dtype: backend.DTypeLike) -> Tensor:
    """x converted to ``dtype`` (a copy); differentiable between floating dtypes."""
    x = as_tensor(x)
    target = backend.as_dtype(dtype)
    if x.requires_grad and target.kind != "f":
        return Tensor._wrap(x.data.astype(target), False)
    return AsType.apply(x, dtype=target)


def to_device(x: Tensor, device: str) -> Tensor:
    """x on ``device`` ('cpu' or 'cuda'); the same tensor if already there."""
    x = as_tensor(x)
    backend.array_module(device)  # checks the name, and that CuPy is there for 'cuda'
    if backend.device_of(x.data) == ("cpu" if device == "cpu" else "cuda"):
        return x
    return ToDevice.apply(x, device=device)
