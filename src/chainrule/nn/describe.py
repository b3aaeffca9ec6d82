"""A module tree as plain JSON data, and back: what ``chainrule.save`` stores beside the weights.

A description is ``{"type": "Linear", "config": {...}, "children": {name: description}}``:
the registered type name, the constructor's keyword arguments (JSON values only), and
the child modules by attribute name. Initialisers are not described; loading overwrites
the weights anyway. Every shipped layer is registered here; a layer registered with
``nn.register_layer`` is described by its constructor's arguments, read back from its
attributes of the same names; any other module registers with ``register_module`` how
to describe and rebuild it. Building never imports or
evaluates anything named in a description: only registered types are built.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.nn import activation as act
from chainrule.nn.autoencoder import Autoencoder
from chainrule.nn.container import ModuleList, Sequential
from chainrule.nn.conv import Conv2d
from chainrule.nn.dropout import Dropout
from chainrule.nn.flatten import Flatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d
from chainrule.nn.pooling import AvgPool2d, LPPool2d, MaxPool2d
from chainrule.nn.registry import LAYERS
from chainrule.nn.residual import Residual

Config = dict[str, Any]
Shapes = dict[str, tuple[int, ...]]
MAX_DEPTH = 64  # deeper nesting in a file is refused, not recursed into


@dataclass(frozen=True)
class ModuleType:
    """How one module class is described and rebuilt.

    ``config(module)`` gives the constructor's JSON-safe keyword arguments;
    ``build(config, children)`` makes the module (default: ``cls(**config, **children)``);
    ``shapes(config)``, when given, the parameter and buffer shapes that config implies,
    so a file can be checked before anything is allocated.
    """

    name: str
    cls: type[Module]
    config: Callable[[Module], Config]
    build: Callable[[Config, dict[str, Module]], Module]
    shapes: Callable[[Config], Shapes] | None = None


_BY_NAME: dict[str, ModuleType] = {}
_BY_CLASS: dict[type, ModuleType] = {}


def register_module(
    cls: type[Module],
    config: Callable[[Module], Config] | None = None,
    *,
    name: str | None = None,
    build: Callable[[Config, dict[str, Module]], Module] | None = None,
    shapes: Callable[[Config], Shapes] | None = None,
) -> type[Module]:
    """Teach ``describe``/``build`` (and so ``chainrule.save``/``load``) a module class.

    ``config(module)`` returns the keyword arguments that rebuild it (default: none);
    child modules are described on their own and passed to ``build`` by attribute name.
    Returns ``cls``, so it also works as a class decorator: ``@register_module``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise ArgumentTypeError(f"register_module: expected a Module subclass; got {cls!r}")
    name = name or cls.__name__
    known = _BY_NAME.get(name)
    if known is not None and known.cls is not cls:
        raise ArgumentError(
            f"register_module: the name {name!r} is taken by {known.cls.__module__}."
            f"{known.cls.__qualname__}; pass name= to register {cls.__qualname__}"
        )
    entry = ModuleType(
        name,
        cls,
        config or (lambda module: {}),
        build or (lambda c, children: cls(**c, **children)),
        shapes,
    )
    _BY_NAME[name] = entry
    _BY_CLASS[cls] = entry
    return cls


def module_type(name: str) -> ModuleType | None:
    """The registered type called ``name``, or None."""
    _register_layers()
    return _BY_NAME.get(name)


def _register_layers() -> None:
    """Register every layer class of ``nn.register_layer`` not registered here yet, with
    its constructor's arguments read back from the attributes of the same names (a bool
    argument held as a parameter, like ``bias``, as whether it is there)."""
    for kinds in LAYERS.values():
        for entry in kinds.values():
            if entry.cls not in _BY_CLASS:
                register_module(entry.cls, _constructor_config(entry.cls))


def _constructor_config(cls: type[Module]) -> Callable[[Module], Config]:
    skip = {"dtype", "weight_init", "bias_init"}  # initialisers are not described
    parameters = [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]

    def config(module: Module) -> Config:
        values = {}
        for p in parameters:
            value = getattr(module, p.name)
            if isinstance(p.default, bool) and (value is None or isinstance(value, Tensor)):
                value = value is not None
            values[p.name] = _json(value)
        return values

    return config


def _json(value: Any) -> Any:
    return [_json(v) for v in value] if isinstance(value, tuple | list) else value


def describe(module: Module, where: str = "model") -> dict[str, Any]:
    """``module`` and everything below it as JSON data; refuses an unregistered class,
    naming where in the tree it is."""
    entry = _BY_CLASS.get(type(module))
    if entry is None:
        _register_layers()
        entry = _BY_CLASS.get(type(module))
    if entry is None:
        raise ArgumentTypeError(
            f"cannot describe {where} ({type(module).__qualname__}): its class is not "
            "registered; call chainrule.nn.register_module("
            f"{type(module).__qualname__}, config=lambda m: {{...its constructor's arguments}})"
        )
    return {
        "type": entry.name,
        "config": entry.config(module),
        "children": {
            name: describe(child, f"{where}.{name}") for name, child in module.named_children()
        },
    }


def build(description: Mapping[str, Any], where: str = "model", depth: int = 0) -> Module:
    """The module a ``describe`` result stands for (weights freshly initialised).

    Raises ``ArgumentError`` naming the place in the tree for anything malformed.
    """
    if depth > MAX_DEPTH:
        raise ArgumentError(f"{where}: nested more than {MAX_DEPTH} modules deep")
    if not isinstance(description, Mapping) or set(description) != {"type", "config", "children"}:
        raise ArgumentError(
            f"{where}: expected {{type, config, children}}; got {description!r:.80}"
        )
    name, config, children = description["type"], description["config"], description["children"]
    entry = module_type(name) if isinstance(name, str) else None
    if entry is None:
        raise ArgumentError(f"{where}: unknown module type {name!r:.60}; not registered")
    if not isinstance(config, Mapping) or not isinstance(children, Mapping):
        raise ArgumentError(f"{where} ({name}): config and children must be tables")
    built = {key: build(child, f"{where}.{key}", depth + 1) for key, child in children.items()}
    config = {key: _tuples(value) for key, value in config.items()}
    try:
        return entry.build(config, built)
    except (TypeError, ValueError) as error:  # chainrule's own errors are among these
        raise ArgumentError(f"{where} ({name}): cannot build it from {config}: {error}") from None


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples constructors take (kernel sizes, strides...)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# ------------------------------------------------------------ shipped layers
def _pair(value: tuple[int, int]) -> list[int]:
    return [int(value[0]), int(value[1])]


def _pool(m: Any) -> Config:
    return {
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride),
        "padding": _pair(m.padding),
    }


def _batchnorm_shapes(c: Config) -> Shapes:
    n = (c["num_features"],)
    stats = {"running_mean": n, "running_var": n}
    return {"weight": n, "bias": n, **stats} if c.get("affine", True) else stats


def _bias(c: Config, size: int) -> Shapes:
    return {"bias": (size,)} if c.get("bias", True) else {}


_SHIPPED: list[tuple[type[Module], Callable[[Any], Config], Callable[[Config], Shapes] | None]] = [
    (
        Linear,
        lambda m: {
            "in_features": m.in_features,
            "out_features": m.out_features,
            "bias": m.bias is not None,
        },
        lambda c: {"weight": (c["out_features"], c["in_features"]), **_bias(c, c["out_features"])},
    ),
    (
        Conv2d,
        lambda m: {
            "in_channels": m.in_channels,
            "out_channels": m.out_channels,
            "kernel_size": _pair(m.kernel_size),
            "stride": _pair(m.stride),
            "padding": _pair(m.padding),
            "bias": m.bias is not None,
        },
        lambda c: {
            "weight": (c["out_channels"], c["in_channels"], *_as_pair(c["kernel_size"])),
            **_bias(c, c["out_channels"]),
        },
    ),
    (
        act.MaxoutLinear,
        lambda m: {
            "in_features": m.in_features,
            "out_features": m.out_features,
            "num_pieces": m.num_pieces,
            "bias": m.bias is not None,
        },
        lambda c: {
            "weight": (c["out_features"] * c["num_pieces"], c["in_features"]),
            **_bias(c, c["out_features"] * c["num_pieces"]),
        },
    ),
    (
        act.RBF,
        lambda m: {"in_features": m.in_features, "out_features": m.out_features, "sigma": m.sigma},
        lambda c: {"weight": (c["out_features"], c["in_features"])},
    ),
    (
        act.PReLU,
        lambda m: {"num_parameters": m.num_slopes, "init": m.init},
        lambda c: {"weight": (c.get("num_parameters", 1),)},
    ),
    *[
        (
            cls,
            lambda m: {
                "num_features": m.num_features,
                "eps": m.eps,
                "momentum": m.momentum,
                "affine": m.affine,
            },
            _batchnorm_shapes,
        )
        for cls in (BatchNorm1d, BatchNorm2d)
    ],
    (MaxPool2d, _pool, None),
    (AvgPool2d, _pool, None),
    (
        LPPool2d,
        lambda m: {
            "p": m.p,
            "kernel_size": _pair(m.kernel_size),
            "stride": _pair(m.stride),
            "root_of": m.root_of,
        },
        None,
    ),
    (Dropout, lambda m: {"p": m.p}, None),
    (Flatten, lambda m: {"start_axis": m.start_axis, "end_axis": m.end_axis}, None),
    (Identity, lambda m: {}, None),
    (act.Sigmoid, lambda m: {}, None),
    (act.Tanh, lambda m: {}, None),
    (act.ReLU, lambda m: {}, None),
    (act.AbsRectify, lambda m: {}, None),
    (act.LeakyReLU, lambda m: {"alpha": m.alpha}, None),
    (act.ELU, lambda m: {"alpha": m.alpha}, None),
    (act.Softplus, lambda m: {"beta": m.beta}, None),
    (act.Hardtanh, lambda m: {"min_val": m.min_val, "max_val": m.max_val}, None),
    (act.Softmax, lambda m: {"axis": m.axis}, None),
    (act.LogSoftmax, lambda m: {"axis": m.axis}, None),
    (act.GELU, lambda m: {"approximate": m.approximate}, None),
    (act.Maxout, lambda m: {"num_pieces": m.num_pieces, "axis": m.axis}, None),
]


def _as_pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


for _cls, _config, _shapes in _SHIPPED:
    register_module(_cls, _config, shapes=_shapes)
register_module(Sequential, build=lambda c, children: Sequential(OrderedDict(children)))
register_module(ModuleList, build=lambda c, children: ModuleList(children.values()))
register_module(Residual)  # its children f and projection are its constructor's arguments
register_module(Autoencoder, lambda m: {"noise": m.noise, "corruption": m.corruption})
