"""Batch normalisation layers: ``BatchNorm1d`` (N, C) or (N, C, L), ``BatchNorm2d`` (N, C, H, W)."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.creation import ones, zeros
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_number, check_positive_int
from chainrule.errors import ArgumentError, ShapeError
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.nn.weight_layer import WeightLayer
from chainrule.ops._operands import as_tensor
from chainrule.ops.norm import batch_norm


class _BatchNorm(WeightLayer):
    """Normalise each channel (axis 1) by the batch's mean and variance in training, by
    running estimates after ``eval()``; then scale by gamma (``weight``, starts at 1) and
    shift by beta (``bias``, starts at 0) when ``affine``.

    ``running_mean`` (starts at 0) and ``running_var`` (starts at 1) are buffers, updated
    as running = (1 - momentum) running + momentum batch, the variance unbiased.
    """

    weight: Parameter | None
    bias: Parameter | None

    has_running_stats = True  # freeze() pins it to eval mode (Keras' trainable = False)
    input_ndims: tuple[int, ...]
    input_layout: str  # the expected input shape, with {c} for num_features
    running_mean: Tensor
    running_var: Tensor

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        dtype: backend.DTypeLike = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", name)
        if not check_number(eps, "eps", name) > 0:
            raise ArgumentError(f"{name}: eps must be positive; got eps={eps}")
        if not 0 <= check_number(momentum, "momentum", name) <= 1:
            raise ArgumentError(f"{name}: momentum must be in [0, 1]; got momentum={momentum}")
        self.eps, self.momentum, self.affine = eps, momentum, affine
        shape = (num_features,) if affine else None
        self.add_weight("weight", shape, "ones", dtype)  # gamma
        self.add_weight("bias", shape, "zeros", dtype)  # beta
        self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", ones(num_features, dtype=dtype))

    def reset_running_stats(self) -> None:
        self.running_mean.data[...] = 0
        self.running_var.data[...] = 1

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        super().reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        if x.ndim not in self.input_ndims or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{type(self).__name__}({self.num_features}) got input of shape "
                f"{tuple(x.shape)}; expected {self.input_layout.format(c=self.num_features)}"
            )
        return batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"
        )


@register_layer("batchnorm", takes="flat", size="num_features", arguments=("eps", "momentum"))
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features: x (N, C) or (N, C, L) -> same shape."""

    input_ndims = (2, 3)
    input_layout = "(N, {c}) or (N, {c}, L)"


@register_layer("batchnorm", takes="images", size="num_features", arguments=("eps", "momentum"))
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of feature maps (Ioffe & Szegedy): x (N, C, H, W) -> same shape,
    statistics per channel over N, H and W."""

    input_ndims = (4,)
    input_layout = "(N, {c}, H, W)"
