"""Data-parallel training over MPI: ``mpiexec -n N python train.py`` with ``fit(..., strategy="mpi")``.

Set-up: ``pip install "chainrule[mpi]"`` (mpi4py and the mpich wheel, whose ``mpiexec``
starts the processes). Without mpiexec the same script trains in one process, and
without the extra nothing here is imported.

What a run does on N processes:

- ``batch_size`` is the global batch B. Every process walks the same shuffled order
  (rank 0 draws it from the shared seed and broadcasts it) and takes a contiguous slice
  of about B / N samples of each global batch; the per-process batch is B / N.
- Parameters and buffers are broadcast from rank 0 when training starts.
- After backward, one allreduce over a single flat buffer makes every gradient the
  mean over the whole global batch (weighted by slice sizes, so exact even when they
  differ); every process then takes the same optimiser step.
- Logged loss and metrics are reduced over processes (sums of per-sample values) and
  validation is split between processes, so the history is the same everywhere.
- Only rank 0 writes checkpoints, logs, the progress bar and file-writing callbacks;
  a checkpoint holds every process's random state, and on resume rank 0 reads it and
  sends it to the others.
- Batch normalisation uses per-process statistics: each process normalises with the
  mean and variance of its own slice (B / N samples), as PyTorch's BatchNorm does under
  DistributedDataParallel; running statistics are those of rank 0.
- A process that dies ends the job (mpiexec stops the rest within a second); one that
  hangs makes the others abort after ``MPIStrategy(timeout=...)`` seconds, naming the
  wait that timed out. Restart the job with ``resume=True``.
"""

from chainrule.distributed.loader import DistributedLoader, shard
from chainrule.distributed.mpi import MPIStrategy

__all__ = ["DistributedLoader", "MPIStrategy", "shard"]
