"""``Dropout``: zero random activations in training, pass them through in evaluation."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.ops.dropout import check_p, dropout


@register_layer("dropout")
class Dropout(Module):
    """Inverted dropout: in training each element is zeroed with probability p and the
    rest scaled by 1 / (1 - p); identity after ``eval()``. Any shape -> same shape."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_p(p, "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
