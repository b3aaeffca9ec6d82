"""``DataLoader``: shuffled mini-batches of a dataset, as chainrule Tensors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator, get_rng_state, set_rng_state
from chainrule.checks import check_positive_int
from chainrule.data.dataset import gather
from chainrule.errors import ArgumentError, ArgumentTypeError


class DataLoader:
    """Iterate over ``dataset`` in mini-batches: each step yields a tuple of Tensors, e.g. (x, y).

    Every epoch (each ``iter``) visits every sample once: in order, or, with ``shuffle``,
    in a fresh permutation drawn from ``generator`` (default: chainrule's generator, so
    ``chainrule.manual_seed`` fixes the order). ``transform`` maps the batch of inputs
    (the first field, a NumPy array) to an array of the same shape: augmentation.
    Floating fields become float32 Tensors (the default dtype); integer fields keep
    their dtype.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        if (
            not hasattr(dataset, "__len__")
            or not hasattr(dataset, "__getitem__")
            or isinstance(dataset, str | bytes | dict | list | tuple | np.ndarray)
        ):
            raise ArgumentTypeError(
                "DataLoader: dataset must be a Dataset (a TensorDataset(x, y), or anything "
                "with len() and indexing that gives samples); got "
                f"{type(dataset).__name__} {str(dataset)[:40]}"
                + (
                    ": wrap arrays as TensorDataset(x, y)"
                    if isinstance(dataset, list | tuple | np.ndarray)
                    else ""
                )
            )
        check_positive_int(batch_size, "batch_size", "DataLoader")
        if transform is not None and not callable(transform):
            raise ArgumentTypeError(
                f"DataLoader: transform must be callable on a batch array; got {transform!r}"
            )
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise ArgumentTypeError(
                "DataLoader: generator must be a numpy.random.Generator or None; "
                f"got {type(generator).__name__}"
            )
        n = len(dataset)
        if n == 0:
            raise ArgumentError(f"DataLoader got an empty dataset ({dataset!r} has 0 samples)")
        if drop_last and batch_size > n:
            raise ArgumentError(
                f"DataLoader: drop_last=True with batch_size={batch_size} larger than the "
                f"dataset ({n} samples) gives no batches"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.generator = generator

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        return self.iterate(self.epoch_order())

    def epoch_order(self) -> np.ndarray:
        """The sample order of one epoch: a fresh permutation when shuffling, else 0..N-1."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        generator = self.generator if self.generator is not None else default_generator()
        return generator.permutation(n)

    def iterate(self, order: np.ndarray, start: int = 0) -> Iterator[tuple[Tensor, ...]]:
        """The batches of an epoch with sample ``order``, from batch number ``start`` on.

        A resumed run replays the interrupted epoch's order from where it stopped.
        """
        for indices in self.batch_indices(order, start):
            yield self.load(indices)

    def batch_indices(self, order: np.ndarray, start: int = 0) -> Iterator[np.ndarray]:
        """The sample indices of each batch of an epoch with sample ``order``, from batch ``start`` on."""
        full = (
            len(order) // self.batch_size if self.drop_last else -(-len(order) // self.batch_size)
        )
        for first in range(start * self.batch_size, full * self.batch_size, self.batch_size):
            yield order[first : first + self.batch_size]

    def load(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        """The samples at ``indices`` as one batch of Tensors, the inputs transformed."""
        fields = gather(self.dataset, indices)
        if self.transform is not None:
            fields = (np.asarray(self.transform(fields[0])), *fields[1:])
        return tuple(Tensor(field) for field in fields)

    def peek(self, n: int) -> tuple[Tensor, ...]:
        """The first ``n`` samples as a transformed batch, drawing nothing from the library's
        generator (its state is put back), so a check before training leaves the run unchanged."""
        state = get_rng_state()
        try:
            return self.load(np.arange(min(n, len(self.dataset))))
        finally:
            set_rng_state(state)

    def labels(self) -> np.ndarray | None:
        """The second field of every sample when the dataset holds arrays (for checks), else None."""
        arrays = getattr(self.dataset, "arrays", None)
        return np.asarray(arrays[1]) if arrays is not None and len(arrays) > 1 else None

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, {len(self)} batches)"
        )
