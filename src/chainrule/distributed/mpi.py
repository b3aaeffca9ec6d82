"""``MPIStrategy``: data-parallel training of one model on every process of an MPI job.

Each step, every process runs forward and backward on its slice of the global batch;
one allreduce over a single flat buffer then sums, over processes, each gradient
weighted by its slice's sample count (plus the batch's loss and metric sums, and the
counts); dividing by the total count gives every process the gradient of the mean loss
over the whole global batch, exactly what one process would compute, even when the
slices differ in size. Every process then takes the same optimiser step, so the
parameters stay identical without being sent again.

Every collective is nonblocking and waited on with a deadline (``timeout`` seconds): a
process that dies or hangs makes the others print which wait timed out and abort the
job (``MPI_Abort``) instead of hanging forever. MPICH's ``mpiexec`` already ends the
whole job within a second when a process is killed; the deadline covers a process that
stops answering without exiting. The job then resumes from the last checkpoint with
``resume=True``.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.distributed.sharded_loader import DistributedLoader
from chainrule.errors import ArgumentError
from chainrule.train.serialization import dumps, loads
from chainrule.train.strategy import Strategy

if TYPE_CHECKING:
    from chainrule.nn.module import Module

T = TypeVar("T")

INSTALL_HINT = (
    'MPI training needs mpi4py and an MPI library: pip install "chainrule[mpi]" '
    "(installs mpi4py and the mpich wheel, whose mpiexec starts the job)"
)


def import_mpi() -> Any:
    """mpi4py's ``MPI`` module, or an error saying how to install it."""
    try:
        from mpi4py import MPI  # optional: mpi4py
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return MPI


class MPIStrategy(Strategy):
    """Train one model on the ``comm.Get_size()`` processes of ``comm`` (default: all).

    ``timeout``: seconds any process waits in a collective before it decides another
    has died or hung and aborts the job. It bounds how long one process may run ahead
    of the others, so it must exceed the longest stretch of work done by one process
    alone (rank 0 writing a checkpoint).
    """

    def __init__(self, comm: Any = None, timeout: float = 300.0) -> None:
        if not timeout > 0:
            raise ArgumentError(f"MPIStrategy: timeout must be positive seconds; got {timeout!r}")
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.world_size = self.comm.Get_size()
        self.timeout = float(timeout)
        self.steps = 0  # gradient allreduces so far, to say where a timeout happened

    # ------------------------------------------------------------ the Trainer's hooks
    def setup(self, model: Module) -> None:
        """Rank 0's parameters and buffers in every process; rank r's random stream is
        rank 0's jumped r times (same seed, independent dropout masks and augmentation)."""
        state, rng_state = self.broadcast((model.state_dict(), backend.get_rng_state()))
        model.load_state_dict(state)
        generator = backend.default_generator()
        generator.bit_generator.state = rng_state
        if self.rank:
            # PCG64 has jumped(); numpy types bit_generator as the base class, which has not
            generator.bit_generator.state = generator.bit_generator.jumped(self.rank).state  # type: ignore[attr-defined]

    def distribute(self, loader: Any, *, training: bool) -> DistributedLoader:
        if isinstance(loader, DistributedLoader):
            return loader
        return DistributedLoader(loader, self, training)

    def sync(self, model: Module, stats: dict[str, float]) -> dict[str, float]:
        """One allreduce of [count * (each gradient, each floating buffer), has-gradient
        flags, stats]: gradients and buffers become count-weighted means, stats sums."""
        params = [p for p in model.parameters() if p.requires_grad]
        buffers = [b for _, b in model.named_buffers() if b.dtype.kind == "f"]
        names = list(stats)
        count = stats["count"]
        arrays = [p.data for p in params] + [b.data for b in buffers]
        xp = backend.get_array_module(*arrays)
        dtype = np.result_type(*(a.dtype for a in arrays)) if arrays else np.float64
        sizes = [a.size for a in arrays]
        total = sum(sizes)
        flags = total + len(params)  # where the stats start
        flat = xp.empty(flags + len(names), dtype=dtype)
        parts = []
        offset = 0
        for size in sizes:
            parts.append(flat[offset : offset + size])
            offset += size
        for i, (p, part) in enumerate(zip(params, parts)):
            if p.grad is None:  # this slice did not reach p; another process's may have
                part[...] = 0
            else:
                xp.multiply(p.grad.data.reshape(-1), count, out=part)
            flat[total + i] = p.grad is not None
        for b, part in zip(buffers, parts[len(params) :]):
            xp.multiply(b.data.reshape(-1), count, out=part)
        if xp is np:
            flat[flags:] = xp.asarray([stats[k] for k in names], dtype=dtype)
        else:  # on a device the stats are device scalars (the loop's) or floats
            for j, k in enumerate(names):
                flat[flags + j] = stats[k]

        host = backend.to_numpy(
            flat
        )  # flat itself on the CPU; from a GPU, a copy (MPI reads host memory)
        self._wait(
            self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM),
            f"the gradient allreduce of step {self.steps + 1}",
        )
        self.steps += 1
        if host is not flat:
            flat[...] = backend.to_device(host, backend.device_of(flat))

        summed = dict(zip(names, host[flags:].tolist()))
        scale = 1.0 / summed["count"]
        for i, (p, part) in enumerate(zip(params, parts)):
            got_grad = host[total + i] > 0
            p.grad = Tensor._wrap((part * scale).reshape(p.shape), False) if got_grad else None
        for b, part in zip(buffers, parts[len(params) :]):
            xp.multiply(part.reshape(b.shape), scale, out=b.data)
        return summed

    def all_gather(self, value: T) -> list[T]:
        payload = np.frombuffer(dumps(value), dtype=np.uint8)
        sizes = np.zeros(self.world_size, dtype=np.int64)
        self._wait(
            self.comm.Iallgather(np.array([payload.size], dtype=np.int64), sizes),
            "gathering results (sizes)",
        )
        gathered = np.empty(int(sizes.sum()), dtype=np.uint8)
        self._wait(self.comm.Iallgatherv(payload, (gathered, sizes)), "gathering results (payload)")
        ends = np.cumsum(sizes)
        return [loads(gathered[e - s : e].tobytes()) for s, e in zip(sizes, ends)]

    def on_writer(self, fn: Callable[[], T]) -> T:
        if self.is_writer:
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except Exception as error:  # sent as text: what crosses processes is never pickled
                outcome = (False, f"{type(error).__name__}: {error}")
                self.broadcast(outcome)
                raise
        else:
            outcome = (True, None)
        ok, value = self.broadcast(outcome)
        if not ok:
            raise RuntimeError(f"rank 0 failed: {value}")
        return value

    # ------------------------------------------------------------------- messaging
    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` in every process (sent without pickle: nested dicts, lists, numbers, strings and arrays)."""
        payload = np.frombuffer(dumps(value), dtype=np.uint8) if self.is_writer else None
        size = np.array([payload.size if payload is not None else 0], dtype=np.int64)
        self._wait(self.comm.Ibcast(size, root=0), "a broadcast from rank 0 (size)")
        buffer = payload.copy() if payload is not None else np.empty(int(size[0]), dtype=np.uint8)
        self._wait(self.comm.Ibcast(buffer, root=0), "a broadcast from rank 0 (payload)")
        return value if self.is_writer else loads(buffer.tobytes())

    def barrier(self) -> None:
        self._wait(self.comm.Ibarrier(), "a barrier")

    def _wait(self, request: Any, what: str) -> None:
        """Wait for ``request``; past the deadline, say so and abort the whole job."""
        deadline = time.monotonic() + self.timeout
        polls = 0
        while not request.Test():
            polls += 1
            if polls > 1000:  # past a short spin, poll gently
                time.sleep(0.0002)
                if time.monotonic() > deadline:
                    self.abort(
                        f"chainrule.distributed: rank {self.rank} of {self.world_size} waited "
                        f"{self.timeout:g} s for {what} and got no answer: another process has "
                        "died or hangs. Aborting the job; restart it with resume=True to "
                        "continue from the last checkpoint."
                    )

    @contextmanager
    def abort_on_error(self) -> Iterator[None]:
        """Any error in this process ends every process of the job now, with one line
        naming the rank and the error, rather than leaving the others to wait."""
        try:
            yield
        except Exception as error:
            if getattr(error, "_chainrule_aborting", False):  # an inner guard said it already
                raise
            error._chainrule_aborting = True  # type: ignore[attr-defined]
            self.abort(
                f"chainrule: error on rank {self.rank} of {self.world_size}: {error}; "
                "aborting the whole job",
                code=2,
            )
            raise

    def fail(self, error: BaseException) -> None:
        """This process failed: say why, and end the job rather than leave the others waiting."""
        traceback.print_exception(error)
        self.abort(
            f"chainrule.distributed: rank {self.rank} of {self.world_size} failed "
            f"({type(error).__name__}: {error}); aborting the job"
        )

    def abort(self, message: str, code: int = 3) -> None:
        """Print ``message`` and end every process of the job."""
        print(message, file=sys.stderr, flush=True)
        # NOTE: mpiexec forwards each rank's output through its own proxy, and Abort ends
        # the proxies too: without a moment's grace the line can be lost (seen once, under
        # load, in the test that aborts from one rank)
        time.sleep(0.2)
        self.comm.Abort(code)

    def __repr__(self) -> str:
        return f"MPIStrategy(rank {self.rank} of {self.world_size}, timeout={self.timeout:g})"
