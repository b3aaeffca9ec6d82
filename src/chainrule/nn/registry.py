"""Layers by name: each layer class registers itself where it is defined, and everyone who
turns a name into a layer (experiment files, the estimators, the doctor) asks here.

``@register_layer("linear", takes="flat", size="in_features", arguments=(...))`` on a
class says: experiment files call it ``"linear"``; it takes flat inputs (N, features);
its ``in_features`` is the size of the input (so a file never writes it); a file may set
``arguments`` (default: every constructor argument but ``size`` and ``dtype``). One name
may stand for one class per input kind ("batchnorm": BatchNorm1d on flat inputs,
BatchNorm2d on images).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from chainrule.errors import ArgumentError, suggest

T = TypeVar("T", bound=type)

TAKES = ("flat", "images", "any")  # (N, features), (N, C, H, W), anything


@dataclass(frozen=True)
class LayerEntry:
    """One registered layer class: its name, the inputs it takes, the constructor argument
    the input's size fills (``size``, or None) and the arguments a file may set."""

    name: str
    cls: type
    takes: str
    size: str | None
    arguments: tuple[str, ...]

    def defaults(self) -> dict[str, Any]:
        """The constructor's defaults of ``arguments`` (those that have one, other than None)."""
        parameters = inspect.signature(self.cls).parameters
        return {
            key: parameters[key].default
            for key in self.arguments
            if parameters[key].default not in (inspect.Parameter.empty, None)
        }

    def required(self) -> tuple[str, ...]:
        """The ``arguments`` without a default."""
        parameters = inspect.signature(self.cls).parameters
        return tuple(k for k in self.arguments if parameters[k].default is inspect.Parameter.empty)


# name -> the classes of that name, by the inputs each takes, in registration order
LAYERS: dict[str, dict[str, LayerEntry]] = {}


def register_layer(
    name: str,
    *,
    takes: str = "any",
    size: str | None = None,
    arguments: Sequence[str] | None = None,
) -> Callable[[T], T]:
    """Class decorator: register a layer class under ``name`` (see the module's docstring)."""
    if takes not in TAKES:
        raise ArgumentError(f"register_layer: takes must be one of {TAKES}; got {takes!r}")

    def register(cls: T) -> T:
        parameters = inspect.signature(cls).parameters
        settable = [k for k in parameters if k not in (size, "dtype", "self")]
        chosen = tuple(settable if arguments is None else arguments)
        unknown = [k for k in (*chosen, *([size] if size else [])) if k not in parameters]
        if unknown:
            raise ArgumentError(
                f"register_layer({name!r}): {cls.__name__} takes no argument(s) {unknown}"
            )
        kinds = LAYERS.setdefault(name, {})
        known = kinds.get(takes)
        if known is not None and known.cls is not cls:
            raise ArgumentError(
                f"register_layer: {name!r} for {takes!r} inputs is taken by {known.cls.__name__}"
            )
        kinds[takes] = LayerEntry(name, cls, takes, size, chosen)
        return cls

    return register


def layer_entry(name: str, ndim: int | None = None) -> LayerEntry:
    """The layer registered as ``name``: for inputs of ``ndim`` axes (batch axis left out:
    1 flat, 3 images) when it has one class per input kind. Unknown names are refused,
    listing the known ones."""
    kinds = LAYERS.get(name)
    if kinds is None:
        raise ArgumentError(
            f"unknown layer {name!r}{suggest(name, LAYERS)}; expected one of {list(LAYERS)}"
        )
    if ndim == 1 and "flat" in kinds:
        return kinds["flat"]
    if ndim == 3 and "images" in kinds:
        return kinds["images"]
    return kinds.get("any") or next(iter(kinds.values()))
