"""``Conv2d``: a bank of learned 2-D filters slid over an image."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_positive_int
from chainrule.nn import init
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.nn.weight_layer import WeightLayer
from chainrule.ops._windows import Pair, as_pair, format_pair
from chainrule.ops.conv import Conv2d as Conv2dOp
from chainrule.ops.conv import check_conv2d


@register_layer("conv2d", takes="images", size="in_channels")
class Conv2d(WeightLayer):
    """y = w (*) x + b: x (N, in_channels, H, W) -> (N, out_channels, H', W').

    H' = floor((H + 2 padding - kh) / stride) + 1, likewise W'. w (out, in, kh, kw)
    defaults to Glorot/Xavier uniform (fans count the receptive field) and b to zeros,
    as in Keras; ``weight_init`` / ``bias_init`` take a name from
    ``nn.init.INITIALIZERS`` or a function.
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        padding: int | Pair = 0,
        bias: bool = True,
        weight_init: str | init.Initializer = "xavier_uniform",
        bias_init: str | init.Initializer = "zeros",
        dtype: backend.DTypeLike = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = as_pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = as_pair(stride, "stride", "Conv2d")
        self.padding = as_pair(padding, "padding", "Conv2d", minimum=0)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.add_weight("weight", shape, weight_init, dtype)
        self.add_weight("bias", (out_channels,) if bias else None, bias_init, dtype)

    def forward(self, x: Tensor) -> Tensor:
        name = (
            f"Conv2d({self.in_channels} -> {self.out_channels}, "
            f"kernel {format_pair(self.kernel_size)})"
        )
        x = check_conv2d(x, self.weight, self.padding, name)
        params = {"stride": self.stride, "padding": self.padding}
        if self.bias is None:
            return Conv2dOp.apply(x, self.weight, **params)
        return Conv2dOp.apply(x, self.weight, self.bias, **params)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )
