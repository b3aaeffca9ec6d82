"""Data-parallel training over MPI: ``mpiexec -n N python train.py`` with ``fit(..., strategy="mpi")``.

Set-up: ``pip install "chainrule[mpi]"`` (mpi4py and the mpich wheel, whose ``mpiexec``
starts the processes). Started without mpiexec, the same script trains in one process,
with or without the extra installed; started by mpiexec without mpi4py, it stops and
says how to install it (rather than train N separate models).

What a run does on N processes:

- ``batch_size`` is the global batch B. Every process walks the same shuffled order
  (rank 0 draws it from the shared seed, as one process would, and broadcasts it) and
  takes a contiguous slice of each global batch: B / N samples per process (slices of a
  batch that N does not divide differ in size by one; in training, a last global batch
  smaller than N is dropped).
- Parameters and buffers are broadcast from rank 0 when training starts; process r's
  random stream (dropout, augmentation) is rank 0's jumped r times.
- After backward, one allreduce over a single flat buffer makes every gradient the mean
  over the whole global batch (each process's gradient weighted by its slice size, so
  exact when slices differ); every process then takes the same optimiser step, and the
  parameters stay bitwise identical. The batch's loss and metric sums ride in the same
  buffer, so logged values are global and callbacks decide alike everywhere.
- Validation is split between the processes and gathered, so the history is the same
  in every process.
- Only rank 0 writes checkpoints, logs, the progress bar and the callbacks that write
  files (``Callback.writes_files``). A checkpoint holds every process's random state;
  on resume rank 0 reads it (no shared file system needed) and sends it to the others.
- Batch normalisation uses per-process statistics: each process normalises with the
  mean and variance of its own slice (B / N samples), as PyTorch's BatchNorm does
  under DistributedDataParallel; it is not a SyncBatchNorm. The running mean and
  variance are averaged over processes every step (in the same allreduce), so every
  process holds the same ones.
- Failure: a process that dies ends the job (MPICH's mpiexec stops the others within a
  second and reports the exit); a process that hangs makes the others print which wait
  timed out and call MPI_Abort after ``MPIStrategy(timeout=...)`` seconds (every
  collective is nonblocking and polled against that deadline). Restart the job with
  ``resume=True`` to continue from the last checkpoint.
- GPU: gradients are copied to the host for the allreduce (the mpich wheel is not
  CUDA-aware).
"""

from chainrule.distributed.mpi import MPIStrategy
from chainrule.distributed.sharded_loader import DistributedLoader, shard

__all__ = ["DistributedLoader", "MPIStrategy", "shard"]
