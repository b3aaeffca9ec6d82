"""Whole models in one file: ``save(model, path)`` and ``load(path)``, architecture and weights.

The file is the checkpoints' kind (``train.serialization``: .npz, or .safetensors with
the ``io`` extra; written atomically with a SHA-256, never pickled): its arrays are the
``state_dict`` under its dotted names, and its JSON metadata holds the architecture
(``nn.describe``), the train/eval mode and the chainrule version. Loading needs no
experiment file and no code beyond chainrule and any custom modules' registrations.

Loading refuses, naming the file, anything damaged (checksum) or not built as described:
unknown module types, malformed settings, weights whose names, shapes or dtypes do not
fit, and, before anything is allocated, sizes the stored weights do not bear out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule import __version__, backend
from chainrule.errors import ArgumentTypeError, ChainruleError, CheckpointError
from chainrule.nn.describe import MAX_DEPTH, build, describe, module_type
from chainrule.nn.module import Module
from chainrule.train.serialization import load_arrays, save_arrays

FORMAT = "chainrule.model/1"


def save(model: Module, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s architecture and weights to ``path`` (.npz, or .safetensors).

    Refuses a model with a module class that is not registered (``nn.register_module``)
    or with modules or parameters shared between places, which the file cannot express.
    """
    if not isinstance(model, Module):
        raise ArgumentTypeError(f"save: expected a Module; got {type(model).__name__}")
    _refuse_sharing(model)
    metadata = {
        "format": FORMAT,
        "architecture": describe(model),
        "training": model.training,
        "chainrule_version": _version(),
    }
    save_arrays(path, model.state_dict(), metadata)


def load(path: str | os.PathLike[str]) -> Module:
    """The model ``save`` wrote to ``path``: same architecture, same weights and dtypes
    (so bitwise the same outputs), same train/eval mode, on the default device."""
    try:
        arrays, metadata = load_arrays(path)
    except RecursionError as error:
        raise CheckpointError(f"{path}: its metadata is nested too deeply to read") from error
    if not isinstance(metadata, Mapping) or metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a chainrule model file (no {FORMAT!r} architecture in it); "
            "a file of weights alone loads with chainrule.train.load"
        )
    try:
        description = metadata["architecture"]
        _check_sizes(description, arrays, "", 0)
        rng = backend.get_rng_state()  # building initialises weights: leave no trace
        try:
            model = build(description)
        finally:
            backend.set_rng_state(rng)
    except (ChainruleError, KeyError, TypeError, ValueError, RecursionError) as error:
        raise CheckpointError(f"{path}: a malformed model: {error}") from None
    _fill(model, arrays, path)
    model.train(metadata.get("training") is True)
    return model


def _fill(model: Module, arrays: Mapping[str, np.ndarray], path: Any) -> None:
    own = dict(model.named_parameters())
    own.update(model.named_buffers())
    problems = [f"missing {name}" for name in own if name not in arrays]
    problems += [f"unexpected {name}" for name in arrays if name not in own]
    for name, tensor in own.items():
        array = arrays.get(name)
        if array is None:
            continue
        if tuple(array.shape) != tuple(tensor.shape):
            problems.append(f"{name}: shape {tuple(array.shape)}, expected {tuple(tensor.shape)}")
        elif array.dtype.kind != tensor.dtype.kind:
            problems.append(f"{name}: dtype {array.dtype}, expected a {tensor.dtype.kind!r} kind")
    if problems:
        raise CheckpointError(
            f"{path}: its weights do not fit its architecture: " + "; ".join(problems[:10])
        )
    for name, tensor in own.items():
        tensor.data = backend.asarray(np.array(arrays[name]), dtype=arrays[name].dtype)


def _check_sizes(
    description: Any, arrays: Mapping[str, np.ndarray], prefix: str, depth: int
) -> None:
    """Refuse sizes the stored weights do not bear out, before building allocates them."""
    if depth > MAX_DEPTH or not isinstance(description, Mapping):
        return  # build() names the problem
    entry = (
        module_type(description.get("type")) if isinstance(description.get("type"), str) else None
    )
    config = description.get("config")
    if entry is not None and entry.shapes is not None and isinstance(config, Mapping):
        for name, shape in entry.shapes(dict(config)).items():
            key = f"{prefix}{name}"
            found = arrays.get(key)
            if found is None or tuple(found.shape) != tuple(shape):
                got = "nothing" if found is None else f"shape {tuple(found.shape)}"
                raise CheckpointError(
                    f"{prefix.rstrip('.') or 'model'} ({entry.name}) declares {key} of shape "
                    f"{tuple(shape)}, but the file holds {got}"
                )
    children = description.get("children")
    if isinstance(children, Mapping):
        for name, child in children.items():
            _check_sizes(child, arrays, f"{prefix}{name}.", depth + 1)


def _refuse_sharing(model: Module) -> None:
    seen_modules: set[int] = set()
    seen_parameters: set[int] = set()
    stack: list[tuple[str, Module]] = [("model", model)]
    while stack:
        where, module = stack.pop()
        if id(module) in seen_modules:
            raise ArgumentTypeError(
                f"save: {where} is a module used in two places; a model file cannot express "
                "sharing (save its state_dict with chainrule.train.save instead)"
            )
        seen_modules.add(id(module))
        for name, p in module._parameters.items():
            if p is not None and id(p) in seen_parameters:
                raise ArgumentTypeError(
                    f"save: {where}.{name} is a parameter shared with another layer; a model "
                    "file cannot express sharing (save its state_dict with chainrule.train.save)"
                )
            if p is not None:
                seen_parameters.add(id(p))
        children = [(f"{where}.{n}", m) for n, m in module.named_children()]
        stack.extend(reversed(children))  # visited in order: the second use is named


def _version() -> str:
    return __version__
