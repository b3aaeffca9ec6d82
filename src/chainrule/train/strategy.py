"""How a ``Trainer`` spreads one run over processes: the hooks, and the one-process default.

The Trainer consults its strategy at a few points: ``setup`` (every process starts from
the same model), ``distribute`` (this process's share of every batch), ``sync`` (after
backward: average the gradients, sum the batch's statistics), ``all_gather`` (evaluation
results, random states) and ``on_writer`` (rank 0 reads a checkpoint, every rank gets
it). ``is_writer`` says whether this process writes checkpoints, logs and progress.
``Strategy()`` is one process, where every hook does nothing; data-parallel training
over MPI is ``chainrule.distributed.MPIStrategy`` (``fit(..., strategy="mpi")``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chainrule.errors import ArgumentError
from chainrule.nn.module import Module

T = TypeVar("T")

# Set in every process by the MPI launchers (MPICH/Hydra, Open MPI, PMIx).
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


class Strategy:
    """One process trains alone: this is the default, and every hook is a no-op."""

    rank = 0
    world_size = 1

    @property
    def is_writer(self) -> bool:
        """Whether this process writes checkpoints, logs, plots and the progress bar."""
        return self.rank == 0

    def setup(self, model: Module) -> None:
        """Make every process start from the same parameters and buffers (rank 0's)."""

    def distribute(self, loader: Any, *, training: bool) -> Any:
        """The loader this process iterates: its share of every batch of ``loader``."""
        return loader

    def sync(self, model: Module, stats: dict[str, float]) -> dict[str, float]:
        """After backward: every process's gradients (and running statistics) become the
        means over the whole batch, and ``stats`` (sums over this process's samples, with
        ``count``) the sums over all."""
        return stats

    def all_gather(self, value: T) -> list[T]:
        """``value`` from every process, in rank order."""
        return [value]

    def on_writer(self, fn: Callable[[], T]) -> T:
        """``fn()`` run by rank 0 alone, its result (or its error) given to every process."""
        return fn()

    @contextmanager
    def abort_on_error(self) -> Iterator[None]:
        """Under a job of several processes, end them all when this one raises (one process:
        the error simply propagates)."""
        yield

    def fail(self, error: BaseException) -> None:
        """Training failed in this process with ``error``; one process has nothing to tell."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def get_strategy(spec: Strategy | str | None, timeout: float | None = None) -> Strategy:
    """A strategy from None (one process), a Strategy instance, or "mpi": data-parallel
    over the processes of an MPI job, and one process when the script was not started by
    mpiexec (so the same script runs either way, with or without mpi4py installed).
    ``timeout``: seconds an MPI process waits for the others before it aborts the job."""
    if spec is None:
        return Strategy()
    if isinstance(spec, Strategy):
        return spec
    if spec == "mpi":
        if not _started_by_mpiexec():  # one process: no need to start MPI at all
            return Strategy()
        # cycle: distributed subclasses Strategy (and optional mpi4py)
        from chainrule.distributed import MPIStrategy

        # without mpi4py this raises: N processes must not train alone
        strategy = MPIStrategy() if timeout is None else MPIStrategy(timeout=timeout)
        return strategy if strategy.world_size > 1 else Strategy()
    raise ArgumentError(f"strategy must be None, 'mpi' or a chainrule.train.Strategy; got {spec!r}")


def _started_by_mpiexec() -> bool:
    return any(int(os.environ.get(v, "1")) > 1 for v in _LAUNCHER_SIZE_VARIABLES)
