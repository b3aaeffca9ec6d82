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
from chainrule.autograd.tensor import Tensor
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
from chainrule.nn.registry import LAYERS as REGISTERED
from chainrule.nn.registry import LayerEntry, layer_entry

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


def initializer(spec: str | Mapping[str, Any]) -> Callable[..., Tensor]:
    """The function an ``init`` key names, with its arguments bound."""
    if isinstance(spec, str):
        return INITIALIZERS[spec]
    args = {key: value for key, value in spec.items() if key != "name"}
    return functools.partial(INITIALIZERS[spec["name"]], **args)


# The experiment files' short names for constructor arguments, the same for every layer.
SHORT_KEYS = {
    "out_features": "out",
    "out_channels": "out",
    "kernel_size": "kernel",
    "num_pieces": "pieces",
    "weight_init": "init",
}

# How a key's value is checked as the file is read; the layer's constructor checks the
# rest when the model is built (a key not listed here is checked only then).
KEY_CHECKS: dict[str, Check] = {
    "out": integer(1),
    "kernel": pair(1),
    "stride": pair(1),
    "padding": pair(0),
    "bias": boolean,
    "init": _init,
    "bias_init": _init,
    "pieces": integer(2),
    "p": number(0, 1, high_open=True),
    "eps": number(0, low_open=True),
    "momentum": number(0, 1),
    "alpha": number(0),
    "beta": number(0, low_open=True),
    "approximate": choice("none", "tanh"),
}
# Where one layer's key means something else than KEY_CHECKS says (layer type, key).
LAYER_KEY_CHECKS: dict[tuple[str, str], Check] = {
    ("lppool2d", "p"): number(0, low_open=True),  # the norm's order, not a probability
    ("elu", "alpha"): number(0, low_open=True),
    ("prelu", "init"): number(),  # the starting slope, not an initialiser
}


def _any_value(value: Any, path: str) -> Any:
    return value


def _layer_type(name: str, kinds: Mapping[str, LayerEntry]) -> LayerType:
    """The file's view of the layer registered as ``name``: its keys (short names), their
    checks and defaults, and how to build it for an input shape."""
    entry = next(iter(kinds.values()))
    to_key = {argument: SHORT_KEYS.get(argument, argument) for argument in entry.arguments}
    checks = {
        key: LAYER_KEY_CHECKS.get((name, key), KEY_CHECKS.get(key, _any_value))
        for key in to_key.values()
    }
    initialisers = {key for key in to_key.values() if checks[key] is _init}

    def build(shape: Shape, args: Mapping[str, Any]) -> nn.Module:
        chosen = layer_entry(name, len(shape))
        kwargs = {
            argument: initializer(args[key]) if key in initialisers else args[key]
            for argument, key in to_key.items()
            if key in args
        }
        if chosen.size is not None:
            kwargs[chosen.size] = shape[0]
        return chosen.cls(**kwargs)

    defaults = {to_key[argument]: value for argument, value in entry.defaults().items()}
    required = tuple(to_key[argument] for argument in entry.required())
    takes = entry.takes if len(kinds) == 1 else "any"
    return LayerType(build, checks, defaults, required, takes)


def layer_types() -> dict[str, LayerType]:
    """Every layer type of ``[model] layers``: the layers registered in ``chainrule.nn``
    (``nn.register_layer``), by their registered names."""
    return {name: _layer_type(name, kinds) for name, kinds in REGISTERED.items()}


LAYERS: dict[str, LayerType] = layer_types()  # as at import; ``layer_types()`` sees later ones


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
            kind = layer_types()[layer.type]
            _check_takes(kind.takes, shape, where)
            try:
                module = kind.build(shape, layer.args)
            except ChainruleError as error:
                raise ConfigError(f"{where}: {error}") from None
            try:
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
