"""Turning what a user passes to ``fit`` into a DataLoader, checking it on the way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.checks import is_int
from chainrule.data import DataLoader, Dataset, TensorDataset
from chainrule.errors import ArgumentError, DataError
from chainrule.nn.module import Module
from chainrule.train.strategy import Strategy
from chainrule.train.weights import check_sample_weight

# What fit, evaluate and predict take as data: an (x, y) pair or an (x, y, sample_weight)
# triple of arrays or Tensors (y or the weights may be None), a Dataset, or a DataLoader.
FitData = Sequence[TensorLike | None] | Dataset | DataLoader


def _host(array: Any) -> np.ndarray:
    return array.numpy() if isinstance(array, Tensor) else np.asarray(array)


def check_arrays(
    x: TensorLike, y: TensorLike | None, role: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """x and y as host arrays: equal lengths, not empty, finite inputs."""
    x = _host(x)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"the {role} data is empty (inputs of shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        where = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0]
        raise DataError(
            f"the {role} inputs contain NaN or infinite values (first in sample {where})"
        )
    if y is None:
        return x, None
    y = _host(y)
    if y.ndim == 0 or len(y) != len(x):
        raise DataError(
            f"the {role} data has {len(x)} inputs but {len(y) if y.ndim else 0} targets; they must match"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"the {role} targets contain NaN or infinite values")
    return x, y


def as_loader(
    data: FitData,
    batch_size: int,
    *,
    shuffle: bool,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    role: str,
) -> DataLoader:
    """A DataLoader for ``data``: (x, y) arrays or Tensors, a Dataset, or a DataLoader."""
    if isinstance(data, DataLoader):
        return data
    if not is_int(batch_size) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive integer; got batch_size={batch_size!r}")
    if isinstance(data, Dataset):
        if len(data) == 0:
            raise DataError(f"the {role} data set is empty")
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, transform=transform)
    if isinstance(data, tuple | list) and len(data) in (2, 3):
        x, y = check_arrays(data[0], data[1], role)
        arrays = (x,) if y is None else (x, y)
        if len(data) == 3 and data[2] is not None:  # Keras' (x, y, sample_weight)
            arrays += (check_sample_weight(data[2], len(x), role),)
        dataset = TensorDataset(*arrays)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, transform=transform)
    raise ArgumentError(
        f"{role} data must be an (x, y) pair of arrays, an (x, y, sample_weight) triple, a "
        f"chainrule.data.Dataset or a DataLoader; got {type(data).__name__}"
    )


def training_loaders(
    train_data: FitData,
    batch_size: int,
    *,
    validation_data: FitData | None,
    validation_split: float,
    shuffle: bool,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    strategy: Strategy,
) -> tuple[Any, Any]:
    """This process's training loader and validation loader (or None) for ``fit``."""
    if validation_split:
        if validation_data is not None:
            raise ArgumentError("give validation_data or validation_split, not both")
        train_data, validation_data = split_validation(train_data, validation_split)
    loader = as_loader(
        train_data, batch_size, shuffle=shuffle, transform=transform, role="training"
    )
    val_loader = (
        as_loader(validation_data, batch_size, shuffle=False, role="validation")
        if validation_data is not None
        else None
    )
    loader = strategy.distribute(loader, training=True)
    if val_loader is not None:
        val_loader = strategy.distribute(val_loader, training=False)
    return loader, val_loader


def split_validation(
    data: FitData, fraction: float
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Hold out the last ``fraction`` of (x, y) arrays for validation (before any shuffling)."""
    if not 0.0 < fraction < 1.0:
        raise ArgumentError(f"validation_split must be in (0, 1); got {fraction}")
    if not (isinstance(data, tuple | list) and len(data) in (2, 3)):
        raise ArgumentError(
            "validation_split needs (x, y) arrays; for a Dataset, pass validation_data"
        )
    x, y = check_arrays(data[0], data[1], "training")
    cut = len(x) - round(len(x) * fraction)
    if cut < 1 or cut == len(x):
        raise DataError(f"validation_split={fraction} of {len(x)} samples leaves an empty split")
    arrays = (x, y) if len(data) == 2 or data[2] is None else (x, y, _host(data[2]))
    return tuple(a[:cut] for a in arrays), tuple(a[cut:] for a in arrays)


def to_model_device(model: Module, *batch: Tensor) -> tuple[Tensor, ...]:
    """The batch's tensors on the device of the model's parameters (data is loaded on the host)."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else "cpu"
    return tuple(t if t.device == device else t.to(device) for t in batch)
