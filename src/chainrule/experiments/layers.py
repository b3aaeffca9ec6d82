"""The layer types of ``[model] layers`` and ``build_model``, which infers every input size.

A layer is an inline table, ``{type = "conv2d", out = 32, kernel = 3}``. Its input size
is never written: ``build_model`` runs a zero batch through the layers as it builds
them, so each layer is built for the shape the previous one gives.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chainrule import nn
from chainrule.autograd.creation import zeros
from chainrule.autograd.grad_mode import no_grad
from chainrule.errors import ChainruleError
from chainrule.experiments.schema import (
    Check,
    ConfigError,
    boolean,
    call_checked,
    check_keys,
    choice,
    integer,
    number,
    pair,
)
from chainrule.nn.init import INITIALIZERS

if TYPE_CHECKING:
    from chainrule.experiments.config import ExperimentConfig, LayerConfig

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerType:
    """How to check a layer's keys and build it for an input of a given shape (batch axis left out)."""

    build: Callable[[Shape, Mapping[str, Any]], nn.Module]
    checks: Mapping[str, Check]
    defaults: Mapping[str, Any]
    required: tuple[str, ...] = ()
    takes: str = "any"  # "flat": (N, features); "images": (N, C, H, W); "any"


def _init(value: Any, path: str) -> str | dict[str, Any]:
    """An initializer: a name from ``nn.init.INITIALIZERS``, or a table of the name and its
    arguments, ``{name = "normal", std = 0.1}``."""
    if not isinstance(value, Mapping):
        return choice(*INITIALIZERS)(value, path)
    name = choice(*INITIALIZERS)(value.get("name"), f"{path}.name")
    function = INITIALIZERS[name]
    arguments = [
        key for key in inspect.signature(function).parameters if key not in ("tensor", "generator")
    ]
    check_keys(value, ["name", *arguments], path)
    args = {key: v for key, v in value.items() if key != "name"}
    call_checked(lambda **kw: function(zeros(4, 4), **kw), args, path)
    return {"name": name, **args}


def initializer(spec: str | Mapping[str, Any]) -> Callable[..., Any]:
    """The function an ``init`` key names, with its arguments bound."""
    if isinstance(spec, str):
        return INITIALIZERS[spec]
    args = {key: value for key, value in spec.items() if key != "name"}
    return functools.partial(INITIALIZERS[spec["name"]], **args)


_WEIGHTS = {"bias": boolean, "init": _init, "bias_init": _init}
_WEIGHT_DEFAULTS = {"bias": True, "init": "xavier_uniform", "bias_init": "zeros"}
_POOL = {"kernel": pair(1), "stride": pair(1), "padding": pair(0)}


def _weights(args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "bias": args["bias"],
        "weight_init": initializer(args["init"]),
        "bias_init": initializer(args["bias_init"]),
    }


def _pool(name: str) -> Callable[[Shape, Mapping[str, Any]], nn.Module]:
    return lambda shape, a: getattr(nn, name)(a["kernel"], a.get("stride"), a["padding"])


def _batchnorm(shape: Shape, a: Mapping[str, Any]) -> nn.Module:
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=a["eps"], momentum=a["momentum"])


def _activation(cls: Callable[..., nn.Module], **checks: Check) -> LayerType:
    """A layer that needs no input size; its keys are ``cls``'s arguments, defaults included."""
    parameters = inspect.signature(cls).parameters
    return LayerType(
        lambda shape, a: cls(**a), checks, {key: parameters[key].default for key in checks}
    )


LAYERS: dict[str, LayerType] = {
    "linear": LayerType(
        lambda shape, a: nn.Linear(shape[0], a["out"], **_weights(a)),
        {"out": integer(1), **_WEIGHTS},
        _WEIGHT_DEFAULTS,
        required=("out",),
        takes="flat",
    ),
    "conv2d": LayerType(
        lambda shape, a: nn.Conv2d(
            shape[0], a["out"], a["kernel"], a["stride"], a["padding"], **_weights(a)
        ),
        {"out": integer(1), "kernel": pair(1), "stride": pair(1), "padding": pair(0), **_WEIGHTS},
        {"stride": 1, "padding": 0, **_WEIGHT_DEFAULTS},
        required=("out", "kernel"),
        takes="images",
    ),
    "maxpool2d": LayerType(_pool("MaxPool2d"), _POOL, {"padding": 0}, ("kernel",), "images"),
    "avgpool2d": LayerType(_pool("AvgPool2d"), _POOL, {"padding": 0}, ("kernel",), "images"),
    "lppool2d": LayerType(
        lambda shape, a: nn.LPPool2d(a["p"], a["kernel"], a.get("stride")),
        {"p": number(0, low_open=True), "kernel": pair(1), "stride": pair(1)},
        {},
        required=("p", "kernel"),
        takes="images",
    ),
    "maxout": LayerType(
        lambda shape, a: nn.MaxoutLinear(shape[0], a["out"], a["pieces"], **_weights(a)),
        {"out": integer(1), "pieces": integer(2), **_WEIGHTS},
        _WEIGHT_DEFAULTS,
        required=("out", "pieces"),
        takes="flat",
    ),
    "dropout": LayerType(
        lambda shape, a: nn.Dropout(a["p"]),
        {"p": number(0, 1, high_open=True)},
        {"p": 0.5},
    ),
    "batchnorm": LayerType(
        _batchnorm,
        {"eps": number(0, low_open=True), "momentum": number(0, 1)},
        {"eps": 1e-5, "momentum": 0.1},
    ),
    "flatten": _activation(nn.Flatten),
    "relu": _activation(nn.ReLU),
    "sigmoid": _activation(nn.Sigmoid),
    "tanh": _activation(nn.Tanh),
    "gelu": _activation(nn.GELU, approximate=choice("none", "tanh")),
    "leaky_relu": _activation(nn.LeakyReLU, alpha=number(0)),
    "elu": _activation(nn.ELU, alpha=number(0, low_open=True)),
    "softplus": _activation(nn.Softplus, beta=number(0, low_open=True)),
}


def build_model(config: ExperimentConfig) -> nn.Sequential:
    """The ``[model]`` layers as a Sequential, each built for the shape its input has
    (after a Flatten at the front when ``data.flatten``).

    Raises ``ConfigError`` naming the layer (``model.layers[3]``) when a layer cannot
    take what the previous one gives, or when the output does not fit the data's classes.
    """
    model, shape = build_layers(config.model.layers, config.data.input_shape, config.data.flatten)
    classes = config.data.num_classes
    if config.autoencoder is None and shape != (classes,):
        raise ConfigError(
            f"model.layers: the model gives outputs of shape (N, {_dims(shape)}), but "
            f"data {config.data.name!r} has {classes} classes; end with "
            f'{{type = "linear", out = {classes}}}'
        )
    return model


def build_layers(
    layers: tuple[LayerConfig, ...],
    input_shape: Shape,
    flatten: bool = False,
    path: str = "model.layers",
) -> tuple[nn.Sequential, Shape]:
    """Layers built in order for inputs of ``input_shape`` (batch axis left out), after a
    Flatten when ``flatten``; returns them as a Sequential (in training mode) and the
    shape of one output. Errors name the layer by ``path[i]``."""
    x = zeros((2, *input_shape))
    modules: list[nn.Module] = []
    if flatten:
        modules.append(nn.Flatten())
        x = modules[0](x)
    shape = tuple(x.shape[1:])
    with no_grad():
        for i, layer in enumerate(layers):
            where = f"{path}[{i}] ({layer.type})"
            kind = LAYERS[layer.type]
            _check_takes(kind.takes, shape, where)
            try:
                module = kind.build(shape, layer.args)
                module.eval()
                x = module(x)
            except ChainruleError as error:
                raise ConfigError(
                    f"{where}: cannot take inputs of shape (N, {_dims(shape)}): {error}"
                ) from None
            modules.append(module)
            shape = tuple(x.shape[1:])
    model = nn.Sequential(*modules)
    model.train()
    return model, shape


def _dims(shape: Shape) -> str:
    return ", ".join(str(n) for n in shape)


def _check_takes(takes: str, shape: Shape, where: str) -> None:
    if takes == "flat" and len(shape) != 1:
        raise ConfigError(
            f"{where}: takes flat inputs (N, features) but gets (N, {_dims(shape)}); "
            'add {type = "flatten"} before it, or set data.flatten = true'
        )
    if takes == "images" and len(shape) != 3:
        raise ConfigError(
            f"{where}: takes images (N, C, H, W) but gets (N, {_dims(shape)})"
            + ("; set data.flatten = false" if len(shape) == 1 else "")
        )
