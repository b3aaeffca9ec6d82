"""Weights to and from PyTorch through safetensors files (the ``io`` extra; no torch needed).

Names: a parameter or buffer is named by its dotted path, as ``state_dict`` names it in
both libraries, so a PyTorch model with the same attribute names (``nn.Sequential``
numbers its layers ``0``, ``1``, ... in both) exchanges weights as they are.

Layouts are PyTorch's already: Linear ``weight`` (out, in) and ``bias`` (out,); Conv2d
``weight`` (out, in, kh, kw); BatchNorm ``weight``, ``bias``, ``running_mean``,
``running_var`` (C,); PReLU ``weight`` (num_parameters,). One conversion: PyTorch's
batch norm also keeps ``num_batches_tracked`` (int64, ()), which chainrule does not use:
``save_torch_weights`` writes it as 0 and ``load_torch_weights`` drops it. Layers with
no PyTorch twin (MaxoutLinear: a Linear(in, out * k) whose features j*k ... j*k + k-1 are
maxed; RBF: centres (out, in)) keep these layouts under the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from chainrule.errors import CheckpointError
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d
from chainrule.train.serialization import save_arrays

_TRACKED = "num_batches_tracked"


def save_torch_weights(model: Module, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s state to a ``.safetensors`` file that
    ``torch_model.load_state_dict(safetensors.torch.load_file(path))`` takes."""
    if not str(path).endswith(".safetensors"):
        raise CheckpointError(f"{path}: PyTorch weights go to a .safetensors file")
    state = dict(model.state_dict())
    for name, module in model.named_modules():
        if isinstance(module, BatchNorm1d | BatchNorm2d):
            state[f"{name}.{_TRACKED}" if name else _TRACKED] = np.zeros((), np.int64)
    save_arrays(path, state)


def load_torch_weights(model: Module, path: str | os.PathLike[str]) -> None:
    """Copy the weights of a ``.safetensors`` file PyTorch wrote
    (``safetensors.torch.save_file(torch_model.state_dict(), path)``) into ``model``, in place.

    Every name must be known and every shape must fit; the error names the file and them.
    """
    path = Path(path)
    try:
        from safetensors import safe_open  # optional: safetensors
    except ImportError as error:
        raise CheckpointError('reading .safetensors needs: pip install "chainrule[io]"') from error
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:  # safetensors raises its own kinds for damaged headers
        raise CheckpointError(
            f"{path}: not a readable safetensors file: {type(error).__name__}: {error}"
        ) from error
    state = {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] != _TRACKED}
    try:
        model.load_state_dict(state)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
