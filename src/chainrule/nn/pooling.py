"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` and ``LPPool2d`` (no parameters)."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.ops._windows import Pair, format_pair
from chainrule.ops.pool import AvgPool2d as AvgPool2dOp
from chainrule.ops.pool import LPPool2d as LPPool2dOp
from chainrule.ops.pool import MaxPool2d as MaxPool2dOp
from chainrule.ops.pool import check_lp_norm, check_pool_input, pool_geometry


class _Pool2d(Module):
    """kernel_size, stride (default: kernel_size) and padding, checked; the input check."""

    def __init__(
        self, kernel_size: int | Pair, stride: int | Pair | None, padding: int | Pair
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = pool_geometry(
            kernel_size, stride, padding, type(self).__name__
        )

    def _check(self, x: Tensor) -> Tensor:
        name = f"{type(self).__name__}(kernel {format_pair(self.kernel_size)})"
        return check_pool_input(x, self.kernel_size, self.padding, name)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


@register_layer("maxpool2d", takes="images")
class MaxPool2d(_Pool2d):
    """Maximum of each window: (N, C, H, W) -> (N, C, H', W'); stride defaults to kernel_size."""

    def __init__(
        self, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
    ) -> None:
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        return MaxPool2dOp.apply(
            self._check(x), kernel_size=self.kernel_size, stride=self.stride, padding=self.padding
        )


@register_layer("avgpool2d", takes="images")
class AvgPool2d(_Pool2d):
    """Mean of each window (zero padding counts): (N, C, H, W) -> (N, C, H', W')."""

    def __init__(
        self, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
    ) -> None:
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        return AvgPool2dOp.apply(
            self._check(x), kernel_size=self.kernel_size, stride=self.stride, padding=self.padding
        )


@register_layer("lppool2d", takes="images", arguments=("p", "kernel_size", "stride"))
class LPPool2d(_Pool2d):
    """L^p pooling, ((1/k) sum_window x^p)^(1/p) with k = kh*kw: (N, C, H, W) -> (N, C, H', W').

    NOTE: by default the root of the *mean*, as the lecture defines L2 pooling (the
    output stays on the scale of its inputs whatever the window size); PyTorch's
    LPPool2d takes the root of the *sum*, k^(1/p) times as large. ``root_of="sum"`` gives
    PyTorch's behaviour, for weights trained there.
    """

    def __init__(
        self,
        p: float,
        kernel_size: int | Pair,
        stride: int | Pair | None = None,
        root_of: str = "mean",
    ) -> None:
        super().__init__(kernel_size, stride, 0)
        self.p = check_lp_norm(p, "LPPool2d")
        if root_of not in ("mean", "sum"):
            raise ArgumentError(
                f"LPPool2d: root_of must be 'mean' (the lecture's) or 'sum' (PyTorch's); "
                f"got root_of={root_of!r}"
            )
        self.root_of = root_of

    def forward(self, x: Tensor) -> Tensor:
        y = LPPool2dOp.apply(
            self._check(x), p=self.p, kernel_size=self.kernel_size, stride=self.stride
        )
        if self.root_of == "sum":  # (sum x^p)^(1/p) = k^(1/p) (mean x^p)^(1/p)
            y = y * float(self.kernel_size[0] * self.kernel_size[1]) ** (1.0 / self.p)
        return y

    def extra_repr(self) -> str:
        root = ", root_of='sum'" if self.root_of == "sum" else ""
        return f"p={self.p:g}, kernel_size={self.kernel_size}, stride={self.stride}{root}"
