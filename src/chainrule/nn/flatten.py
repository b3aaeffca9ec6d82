"""``Flatten``: (N, *rest) -> (N, prod(rest)), the bridge from convolutions to dense layers."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.ops.shape import flatten


@register_layer("flatten", arguments=())
class Flatten(Module):
    """Merge axes ``start_axis``..``end_axis`` (all but the batch axis by default)."""

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_axis, self.end_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}, end_axis={self.end_axis}"
