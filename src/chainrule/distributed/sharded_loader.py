"""``DistributedLoader``: one process's share of every batch of a DataLoader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Slice ``rank`` of ``indices`` cut into ``world_size`` contiguous slices whose sizes
    differ by at most one (the first ``len % world_size`` slices are one longer)."""
    base, extra = divmod(len(indices), world_size)
    first = rank * base + min(rank, extra)
    return indices[first : first + base + (rank < extra)]


class DistributedLoader:
    """The batches of ``loader`` as process ``strategy.rank`` of ``strategy.world_size`` sees them.

    Every process walks the same epoch order: rank 0 draws it (from the shared seed, as
    one process would) and broadcasts it. Each global batch of ``loader.batch_size``
    samples is cut by ``shard``, so a process computes on about batch_size / world_size
    samples. In training, a last global batch smaller than ``world_size`` is dropped (some
    process would get no sample); in evaluation every sample is kept and a process whose
    slice is empty skips that batch.
    """

    def __init__(self, loader: Any, strategy: Any, training: bool) -> None:
        self.loader = loader
        self.strategy = strategy
        self.training = training

    def __len__(self) -> int:
        """The number of global batches each process steps through in one epoch."""
        batches = len(self.loader)
        last = len(self.loader.dataset) % self.loader.batch_size
        small_last = not self.loader.drop_last and 0 < last < self.strategy.world_size
        return batches - 1 if self.training and small_last else batches

    @property
    def generator(self) -> Any:
        return self.loader.generator

    @property
    def dataset(self) -> Any:
        return self.loader.dataset

    def epoch_order(self) -> np.ndarray:
        """Rank 0's sample order for the epoch, the same in every process."""
        return self.strategy.on_writer(self.loader.epoch_order)

    def iterate(self, order: np.ndarray, start: int = 0) -> Iterator[tuple[Tensor, ...]]:
        """This process's slice of each global batch of ``order``, from global batch ``start`` on."""
        size, rank = self.strategy.world_size, self.strategy.rank
        for indices in self.loader.batch_indices(order, start):
            if self.training and len(indices) < size:
                return
            part = shard(indices, rank, size)
            if len(part):
                yield self.loader.load(part)

    def peek(self, n: int) -> tuple[Tensor, ...]:
        return self.loader.peek(n)

    def labels(self) -> np.ndarray | None:
        return self.loader.labels()

    def __repr__(self) -> str:
        return (
            f"DistributedLoader({self.loader!r}, rank {self.strategy.rank} of "
            f"{self.strategy.world_size})"
        )
