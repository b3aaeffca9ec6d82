"""``Conv2d``: a bank of learned 2-D filters slid over an image."""

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
from chainrule.ops._operands import as_tensor
from chainrule.ops._windows import Pair, as_pair, check_window_fits, format_pair
from chainrule.ops.conv import Conv2d as Conv2dOp


@register_layer("conv2d", takes="images", size="in_channels")
class Conv2d(Module):
    """y = w (*) x + b: x (N, in_channels, H, W) -> (N, out_channels, H', W').

    H' = floor((H + 2 padding - kh) / stride) + 1, likewise W'. w (out, in, kh, kw)
    defaults to Glorot/Xavier uniform (fans count the receptive field) and b to zeros,
    as in Keras; ``weight_init`` / ``bias_init`` take a name from
    ``nn.init.INITIALIZERS`` or a function.
    """

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
        self.weight_init = init.get_initializer(weight_init, "weight_init")
        self.bias_init = init.get_initializer(bias_init, "bias_init")
        self.weight = Parameter(zeros(out_channels, in_channels, *self.kernel_size), dtype=dtype)
        if bias:
            self.bias = Parameter(zeros(out_channels), dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight_init(self.weight)
        if self.bias is not None:
            self.bias_init(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        name = (
            f"Conv2d({self.in_channels} -> {self.out_channels}, "
            f"kernel {format_pair(self.kernel_size)})"
        )
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(
                f"{name} got input of shape {tuple(x.shape)}; "
                f"expected (N, {self.in_channels}, H, W)"
            )
        check_window_fits(x.shape, self.kernel_size, self.padding, name)
        params = {"stride": self.stride, "padding": self.padding}
        if self.bias is None:
            return Conv2dOp.apply(x, self.weight, **params)
        return Conv2dOp.apply(x, self.weight, self.bias, **params)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )
