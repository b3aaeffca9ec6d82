"""Datasets: indexable collections of samples that a ``DataLoader`` batches.

A dataset can also hand out a whole batch at once (``get_batch(indices)``); the ones
backed by arrays (``TensorDataset``, a ``Subset`` of one) do it with one fancy-index.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError, SampleIndexError, ShapeError


class Dataset(abc.ABC):
    """A sized collection of samples: ``len(ds)`` and ``ds[i]`` (a tuple of fields or one array)."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any: ...

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The samples at ``indices``, each field stacked: (B,) indices -> fields of shape (B, ...)."""
        return stack_samples([self[int(i)] for i in indices])


def stack_samples(samples: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """Per-sample results (tuples of fields, or single arrays) -> one stacked array per field."""
    if isinstance(samples[0], tuple | list):
        return tuple(np.stack([np.asarray(field) for field in fields]) for fields in zip(*samples))
    return (np.stack([np.asarray(sample) for sample in samples]),)


class TensorDataset(Dataset):
    """Arrays (or Tensors) sharing their first dimension: sample i is ``(a[i] for a in arrays)``.

    ``ds[indices]`` with an integer array returns the whole batch, one gather per array.
    """

    def __init__(self, *arrays: npt.ArrayLike) -> None:
        if not arrays:
            raise ArgumentError("TensorDataset needs at least one array; got none")
        converted = []
        for position, array in enumerate(arrays):
            array = array.numpy() if isinstance(array, Tensor) else np.asarray(array)
            if array.ndim == 0:
                raise ShapeError(
                    f"TensorDataset array {position} is a scalar; expected an array of "
                    "shape (N, ...) with one row per sample"
                )
            converted.append(array)
        lengths = tuple(len(array) for array in converted)
        if len(set(lengths)) != 1:
            raise ShapeError(
                f"TensorDataset arrays must have the same first dimension (one row per sample); "
                f"got lengths {lengths}"
            )
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        """Sample ``index`` (an int) or the batch at ``index`` (a slice or integer array)."""
        check_index(index, len(self), "TensorDataset")
        return tuple(array[index] for array in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return self[indices]

    def __repr__(self) -> str:
        shapes = ", ".join(str(array.shape) for array in self.arrays)
        return f"TensorDataset({shapes})"


def check_index(index: object, n: int, owner: str) -> None:
    """Refuse an ``index`` into ``n`` samples that is not an int, a slice or an integer
    array, or that lies outside [-n, n), naming it and the length."""
    if isinstance(index, slice):
        return
    if isinstance(index, bool | np.bool_) or not isinstance(
        index, int | np.integer | np.ndarray | list
    ):
        raise ArgumentTypeError(
            f"{owner} index must be an int, a slice or an array of ints; got "
            f"{type(index).__name__} {index!r}"
        )
    if isinstance(index, int | np.integer):
        if not -n <= index < n:
            raise SampleIndexError(
                f"{owner} index {index} is out of range for {n} samples (expected -{n} to {n - 1})"
            )
        return
    array = np.asarray(index)
    if array.size and array.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{owner} index array must hold ints; got dtype {array.dtype}")
    if array.size and (array.min() < -n or array.max() >= n):
        raise SampleIndexError(
            f"{owner} index array holds values from {array.min()} to {array.max()}, out of "
            f"range for {n} samples (expected -{n} to {n - 1})"
        )


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: npt.ArrayLike) -> None:
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise ArgumentTypeError(
                f"Subset indices must be a 1-d sequence of integers; got shape {indices.shape} "
                f"and dtype {indices.dtype}"
            )
        n = len(dataset)
        indices = indices.astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ArgumentError(
                f"Subset indices must lie in [0, {n}) for a dataset of {n} samples; "
                f"got values from {indices.min()} to {indices.max()}"
            )
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[self.indices[index]]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return gather(self.dataset, self.indices[indices])

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} samples)"


def gather(dataset: Any, indices: np.ndarray) -> tuple[np.ndarray, ...]:
    """The batch at ``indices`` of any dataset: its ``get_batch`` if it has one, else per item."""
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None:
        return tuple(get_batch(indices))
    return stack_samples([dataset[int(i)] for i in indices])
