"""Dense layers: ``Linear``, and the do-nothing ``Identity``."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.creation import zeros
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_positive_int
from chainrule.errors import ShapeError
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.ops.linalg import Linear as LinearOp


@register_layer("linear", takes="flat", size="in_features")
class Linear(Module):
    """y = x W^T + b: x (*, in_features) -> (*, out_features).

    W defaults to Glorot/Xavier uniform, U(-a, a) with a = sqrt(6 / (in + out)), and b
    to zeros, as in Keras; ``weight_init`` / ``bias_init`` take a name from
    ``nn.init.INITIALIZERS`` or a function.
    """

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
        self.weight_init = init.get_initializer(weight_init, "weight_init")
        self.bias_init = init.get_initializer(bias_init, "bias_init")
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight_init(self.weight)
        if self.bias is not None:
            self.bias_init(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear({self.in_features} -> {self.out_features}) got input of shape "
                f"{tuple(x.shape)}; expected (*, {self.in_features})"
            )
        if self.bias is None:
            return LinearOp.apply(x, self.weight)
        return LinearOp.apply(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x."""

    def forward(self, x: Tensor) -> Tensor:
        return x
