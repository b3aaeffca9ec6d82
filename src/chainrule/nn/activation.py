"""Activations as layers: the elementwise nonlinearities, softmax, RBF units and maxout.

Each wraps the function of the same name in ``chainrule.ops``; x: any shape -> same
shape unless stated. The elementwise ones are ``Activation``s: ask
``isinstance(layer, nn.Activation)``, or ``nn.ACTIVATIONS`` / ``nn.get_activation`` for
them by name, rather than keeping a list of them elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from chainrule import backend
from chainrule.autograd.creation import zeros
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_number, check_positive_int
from chainrule.errors import ArgumentError, ShapeError, suggest
from chainrule.nn import init
from chainrule.nn.init import constant_
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.nn.weight_layer import WeightLayer
from chainrule.ops import activation as A
from chainrule.ops import elementwise as E
from chainrule.ops._operands import as_tensor
from chainrule.ops.linalg import check_linear, linear

# Every elementwise activation by its registered name ("relu", "leaky_relu", ...).
ACTIVATIONS: dict[str, type[Activation]] = {}


class Activation(Module):
    """Base of the elementwise nonlinearities y = f(x), x any shape -> the same shape.

    A subclass that sets ``name`` is registered under it: in ``ACTIVATIONS``, and (with its
    constructor arguments) as a layer type of the experiment files. ``suggested_init`` is
    the initialiser that suits a weight layer in front of it (He for the rectifiers).
    """

    name: ClassVar[str | None] = None
    suggested_init: ClassVar[str] = "xavier_uniform"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None:
            ACTIVATIONS[name] = cls
            register_layer(name)(cls)


def get_activation(name: str, **kwargs: Any) -> Activation:
    """The activation layer registered as ``name``, built with ``kwargs``; unknown names
    are refused, listing the known ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        hint = suggest(name, ACTIVATIONS) if isinstance(name, str) else ""
        raise ArgumentError(
            f"unknown activation {name!r}{hint}; expected one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name](**kwargs)


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x)."""

    name = "sigmoid"

    def forward(self, x: Tensor) -> Tensor:
        return E.sigmoid(x)


class Tanh(Activation):
    """y = tanh x."""

    name = "tanh"

    def forward(self, x: Tensor) -> Tensor:
        return E.tanh(x)


class ReLU(Activation):
    """y = max(x, 0)."""

    name = "relu"
    suggested_init = "he_normal"

    def forward(self, x: Tensor) -> Tensor:
        return E.relu(x)


class LeakyReLU(Activation):
    """y = x where x > 0, else alpha x."""

    name = "leaky_relu"
    suggested_init = "he_normal"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        A.leaky_relu(zeros(1), alpha)  # checks the arguments now, not at the first batch
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class PReLU(Activation, WeightLayer):
    """y = x where x > 0, else a x, with a learned: one slope shared (num_parameters=1) or
    one per channel of axis 1. ``weight`` (num_parameters,) starts at ``init`` (0.25)."""

    weight: Parameter

    name = "prelu"
    suggested_init = "he_normal"

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, dtype: backend.DTypeLike = None
    ) -> None:
        super().__init__()
        # NOTE: not self.num_parameters (PyTorch's attribute): that would shadow the method
        # every module has, num_parameters(), and make it uncallable on this one
        self.num_slopes = check_positive_int(num_parameters, "num_parameters", "PReLU")
        self.init = check_number(init, "init", "PReLU")
        start = functools.partial(constant_, value=self.init)
        self.add_weight("weight", (num_parameters,), start, dtype, argument="init")

    def forward(self, x: Tensor) -> Tensor:
        return A.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_slopes}"


class ELU(Activation):
    """y = x where x > 0, else alpha (e^x - 1)."""

    name = "elu"
    suggested_init = "he_normal"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        A.elu(zeros(1), alpha)  # checks the arguments now
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return A.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Activation):
    """y = log(1 + e^(beta x)) / beta."""

    name = "softplus"

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        A.softplus(zeros(1), beta)  # checks the arguments now
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return A.softplus(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class Hardtanh(Activation):
    """y = x clipped to [min_val, max_val]."""

    name = "hardtanh"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        A.hardtanh(zeros(1), min_val, max_val)  # checks the arguments now
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Tensor) -> Tensor:
        return A.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class AbsRectify(Activation):
    """y = |x|, absolute value rectification."""

    name = "abs_rectify"

    def forward(self, x: Tensor) -> Tensor:
        return A.abs_rectify(x)


@register_layer("softmax")
class Softmax(Module):
    """y = e^x / sum(e^x) along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return A.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


@register_layer("log_softmax")
class LogSoftmax(Module):
    """y = log softmax(x) along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return A.log_softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class GELU(Activation):
    """y = x Phi(x), Phi the normal CDF: exact (erf) by default, as in PyTorch, or the
    tanh approximation with ``approximate="tanh"``."""

    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        A.gelu(zeros(1), approximate)  # checks the argument now
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return A.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


@register_layer("rbf", takes="flat", size="in_features")
class RBF(WeightLayer):
    """Radial basis units y[n, u] = exp(-||w_u - x_n||^2 / sigma^2): x (N, in_features)
    -> (N, out_features). The centres ``weight`` (out_features, in_features) are learned
    and default to N(0, 1) draws (``weight_init``); the width ``sigma`` is fixed."""

    weight: Parameter

    def __init__(
        self,
        in_features: int,
        out_features: int,
        sigma: float = 1.0,
        weight_init: str | init.Initializer = "normal",
        dtype: backend.DTypeLike = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "RBF")
        self.out_features = check_positive_int(out_features, "out_features", "RBF")
        A.rbf(zeros(1, in_features), zeros(out_features, in_features), sigma)  # checks sigma now
        self.sigma = sigma
        self.add_weight("weight", (out_features, in_features), weight_init, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(
                f"RBF({self.in_features} -> {self.out_features}) got input of shape "
                f"{tuple(x.shape)}; expected (N, {self.in_features})"
            )
        return A.rbf(x, self.weight, self.sigma)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, sigma={self.sigma}"
        )


class Maxout(Module):
    """Max over groups of ``num_pieces`` consecutive features along ``axis``:
    (N, F, *) -> (N, F / num_pieces, *)."""

    def __init__(self, num_pieces: int, axis: int = 1) -> None:
        super().__init__()
        self.num_pieces = check_positive_int(num_pieces, "num_pieces", "Maxout")
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return A.maxout(x, self.num_pieces, self.axis)

    def extra_repr(self) -> str:
        return f"num_pieces={self.num_pieces}, axis={self.axis}"


@register_layer("maxout", takes="flat", size="in_features")
class MaxoutLinear(WeightLayer):
    """Goodfellow et al.'s maxout units: h_i = max over j < k of (x W^T + b)[i k + j].

    x (*, in_features) -> (*, out_features). weight (out_features * k, in_features) and
    bias (out_features * k,) default to Glorot uniform and zeros, as in Linear.
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_pieces: int,
        bias: bool = True,
        weight_init: str | init.Initializer = "xavier_uniform",
        bias_init: str | init.Initializer = "zeros",
        dtype: backend.DTypeLike = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "MaxoutLinear")
        self.out_features = check_positive_int(out_features, "out_features", "MaxoutLinear")
        self.num_pieces = check_positive_int(num_pieces, "num_pieces", "MaxoutLinear")
        pieces = out_features * num_pieces
        self.add_weight("weight", (pieces, in_features), weight_init, dtype)
        self.add_weight("bias", (pieces,) if bias else None, bias_init, dtype)

    def forward(self, x: Tensor) -> Tensor:
        where = f"MaxoutLinear({self.in_features} -> {self.out_features}, {self.num_pieces} pieces)"
        x = check_linear(x, self.weight, where)
        return A.maxout(linear(x, self.weight, self.bias), self.num_pieces, axis=-1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_pieces={self.num_pieces}, bias={self.bias is not None}"
        )
