"""``Residual``: a block that learns a correction to its input, y = f(x) + x."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentTypeError, ShapeError
from chainrule.nn.module import Module


class Residual(Module):
    """y = f(x) + x, or f(x) + projection(x) when a ``projection`` is given (for a block
    that changes the shape, e.g. a Linear or a 1x1 convolution). f(x) must come out in
    the shape of x (or of projection(x))."""

    def __init__(self, f: Module, projection: Module | None = None) -> None:
        super().__init__()
        for name, m in (("f", f), ("projection", projection)):
            if (m is not None or name == "f") and not isinstance(m, Module):
                raise ArgumentTypeError(
                    f"Residual: {name} must be a Module; got {type(m).__name__}"
                )
        self.f = f
        self.projection = projection

    def forward(self, x: Tensor) -> Tensor:
        fx = self.f(x)
        shortcut = x if self.projection is None else self.projection(x)
        if tuple(fx.shape) != tuple(shortcut.shape):
            if self.projection is None:
                raise ShapeError(
                    f"Residual: f(x) has shape {tuple(fx.shape)} but x has shape "
                    f"{tuple(shortcut.shape)}; give a projection that maps x to f(x)'s shape"
                )
            raise ShapeError(
                f"Residual: f(x) has shape {tuple(fx.shape)} but projection(x) has shape "
                f"{tuple(shortcut.shape)}; they must match"
            )
        return fx + shortcut
