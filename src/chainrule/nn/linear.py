"""Dense layers: ``Linear``, and the do-nothing ``Identity``."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_positive_int
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.nn.weight_layer import WeightLayer
from chainrule.ops.linalg import Linear as LinearOp
from chainrule.ops.linalg import check_linear


@register_layer("linear", takes="flat", size="in_features")
class Linear(WeightLayer):
    """y = x W^T + b: x (*, in_features) -> (*, out_features).

    W defaults to Glorot/Xavier uniform, U(-a, a) with a = sqrt(6 / (in + out)), and b
    to zeros, as in Keras; ``weight_init`` / ``bias_init`` take a name from
    ``nn.init.INITIALIZERS`` or a function.
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        weight_init: str | init.Initializer = "xavier_uniform",
        bias_init: str | init.Initializer = "zeros",
        dtype: backend.DTypeLike = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        self.add_weight("weight", (out_features, in_features), weight_init, dtype)
        self.add_weight("bias", (out_features,) if bias else None, bias_init, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x = check_linear(x, self.weight, f"Linear({self.in_features} -> {self.out_features})")
        if self.bias is None:
            return LinearOp.apply(x, self.weight)
        return LinearOp.apply(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x."""

    def forward(self, x: Tensor) -> Tensor:
        return x
