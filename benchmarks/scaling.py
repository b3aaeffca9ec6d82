"""Data-parallel scaling of the Keras MLP and CNN: measured at N = 2, modelled up to N = 64.

Run under MPI with two processes (one BLAS thread each):

    mpiexec -n 2 python benchmarks/scaling.py

For each model, with the global batch B = 128 as in the Keras examples:

1. rank 0 alone times a training step's compute (forward, backward, optimiser step) at
   the per-process batch B / N for N = 1, 2, 4, ..., 64;
2. both processes time the fused gradient allreduce (``MPIStrategy.sync``: pack, one
   allreduce, unpack) and a tiny allreduce (the latency), and a whole data-parallel step;
3. the ring-allreduce cost model, T_comm(N) = 2 (N - 1) alpha + 2 (N - 1) / N * bytes / beta,
   predicts the step time T(N) = T_compute(B / N) + T_comm(N) (no overlap of the two, as
   in MPIStrategy) and the speed-up T_compute(B) / T(N), for a 10 Gb/s network
   (alpha = 25 us) and a 100 Gb/s one (alpha = 2 us), and says from which N on the
   allreduce takes longer than the compute.

The measured N = 2 figures are printed next to what the model predicts for them with
this machine's own alpha and beta, measured with an 8-byte and a 4 MB allreduce.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per process
os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics
import sys
import time

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.distributed import MPIStrategy

GLOBAL_BATCH = 128
WORLD_SIZES = [1, 2, 4, 8, 16, 32, 64]
NETWORKS = {"10 Gb/s": (25e-6, 10e9 / 8), "100 Gb/s": (2e-6, 100e9 / 8)}  # alpha s, beta B/s


def keras_mlp() -> nn.Module:
    """Keras' mnist_mlp: 784-512-512-10, ReLU, dropout 0.2 (669,706 parameters)."""
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 10),
    )  # fmt: skip


def keras_cnn() -> nn.Module:
    """Keras' mnist_cnn: conv32-conv64-maxpool-dense128, dropout (1,199,882 parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )  # fmt: skip


MODELS = {  # name: (model, sample shape, optimiser as in the example)
    "Keras MLP": (keras_mlp, (784,), optim.Adam),
    "Keras CNN": (keras_cnn, (1, 28, 28), optim.Adadelta),
}
PROBE_BYTES = 4_000_000  # the allreduce that measures this machine's bandwidth


def batch(shape: tuple[int, ...], n: int) -> tuple[cr.Tensor, cr.Tensor]:
    rng = np.random.default_rng(n)
    return cr.tensor(rng.random((n, *shape), dtype=np.float32)), cr.tensor(rng.integers(0, 10, n))


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def step_fn(model, opt, x, y, strategy=None):
    """One training step; with ``strategy``, the gradients are synchronised before the update."""

    def step():
        loss = cr.functional.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        if strategy is not None:
            strategy.sync(model, {"count": float(len(x)), "loss": float(loss.item()) * len(x)})
        opt.step()

    return step


def ring_allreduce_seconds(n: int, nbytes: int, alpha: float, beta: float) -> float:
    """Ring allreduce: 2 (N - 1) messages, each process sending 2 (N - 1) / N of the buffer."""
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def measure(name: str, strategy: MPIStrategy) -> dict | None:
    build, shape, optimizer = MODELS[name]
    cr.manual_seed(0)
    model = build()
    opt = optimizer(model.parameters())
    nbytes = 4 * model.num_parameters() + 4 * (len(list(model.parameters())) + 2)
    repeats = 15 if name == "Keras MLP" else 5

    compute = {}
    if strategy.rank == 0:  # alone: the other process waits at the barrier
        for n in WORLD_SIZES:
            x, y = batch(shape, GLOBAL_BATCH // n)
            compute[n] = median_seconds(step_fn(model, opt, x, y), repeats)
    strategy.barrier()

    x, y = batch(shape, GLOBAL_BATCH // strategy.world_size)
    loss = cr.functional.cross_entropy(model(x), y)
    model.zero_grad()
    loss.backward()
    stats = {"count": float(len(x)), "loss": 0.0}
    strategy.barrier()
    allreduce = median_seconds(lambda: strategy.sync(model, stats), 30)
    latency = raw_allreduce_seconds(strategy, np.zeros(1), 200)
    probe = raw_allreduce_seconds(strategy, np.zeros(PROBE_BYTES // 4, np.float32), 30)
    strategy.barrier()
    parallel_step = median_seconds(step_fn(model, opt, x, y, strategy), repeats)
    return (
        {
            "compute": compute,
            "allreduce": allreduce,
            "latency": latency,
            "probe": probe,
            "step": parallel_step,
            "bytes": nbytes,
        }
        if strategy.rank == 0
        else None
    )


def raw_allreduce_seconds(strategy: MPIStrategy, buffer: np.ndarray, repeats: int) -> float:
    """Median time of one in-place allreduce of ``buffer`` between all processes."""
    MPI = strategy.MPI
    strategy.barrier()
    return median_seconds(
        lambda: strategy._wait(strategy.comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM), "probe"),
        repeats,
    )


def report(name: str, m: dict, world: int) -> None:
    compute, nbytes = m["compute"], m["bytes"]
    print(f"\n{name}: {nbytes / 1e6:.2f} MB of gradients (float32), global batch {GLOBAL_BATCH}")
    print(
        "  compute per step, one process: "
        + ", ".join(f"B={GLOBAL_BATCH // n}: {compute[n] * 1e3:.1f} ms" for n in WORLD_SIZES)
    )
    # this machine's alpha from an 8-byte allreduce, beta from a 4 MB one; the model then
    # predicts the allreduce of this model's gradients, which was measured separately
    alpha = m["latency"] / (2 * (world - 1))
    sent = 2 * (world - 1) / world * PROBE_BYTES
    beta = sent / max(m["probe"] - 2 * (world - 1) * alpha, 1e-9)
    predicted_comm = ring_allreduce_seconds(world, nbytes, alpha, beta)
    predicted_step = compute[world] + predicted_comm
    print(
        f"  measured at N = {world} on this machine (shared memory, alpha {alpha * 1e6:.0f} us, "
        f"beta {beta / 1e9:.2f} GB/s):"
    )
    print(f"    compute at B/{world}      {compute[world] * 1e3:8.1f} ms   (alone)")
    print(
        f"    fused allreduce          {m['allreduce'] * 1e3:8.1f} ms   "
        f"(model: {predicted_comm * 1e3:.1f} ms)"
    )
    print(
        f"    data-parallel step       {m['step'] * 1e3:8.1f} ms   "
        f"(model: {predicted_step * 1e3:.1f} ms = compute + allreduce)"
    )
    print(
        f"    communication fraction   {m['allreduce'] / m['step']:8.1%}    "
        f"(model: {predicted_comm / predicted_step:.1%})"
    )
    print(
        f"    speed-up over one process {compute[1] / m['step']:7.2f}x   "
        f"(model: {compute[1] / predicted_step:.2f}x)"
    )
    print("  predicted speed-up T(1) / T(N), T(N) = compute(B/N) + ring allreduce:")
    print(f"    {'N':>4s}" + "".join(f"{net:>22s}" for net in NETWORKS))
    crossover = {}
    for n in WORLD_SIZES:
        cells = []
        for net, (a, b) in NETWORKS.items():
            comm = ring_allreduce_seconds(n, nbytes, a, b)
            t = compute[n] + comm
            cells.append(f"{compute[1] / t:8.2f}x (comm {comm / t:4.0%})")
            if comm > compute[n] and net not in crossover:
                crossover[net] = n
        print(f"    {n:4d}" + "".join(f"{c:>22s}" for c in cells))
    for net in NETWORKS:
        where = (
            f"from N = {crossover[net]} on"
            if net in crossover
            else f"at no N up to {WORLD_SIZES[-1]}"
        )
        top = ring_allreduce_seconds(WORLD_SIZES[-1], nbytes, *NETWORKS[net])
        print(
            f"  {net}: the allreduce takes longer than the compute {where}; at N = "
            f"{WORLD_SIZES[-1]} it takes {top * 1e3:.2f} ms, so it dominates on any device "
            f"(a GPU) whose step on B/{WORLD_SIZES[-1]} is faster than that"
        )


def main() -> None:
    strategy = MPIStrategy()
    if strategy.world_size < 2:
        sys.exit("run under MPI with two processes: mpiexec -n 2 python benchmarks/scaling.py")
    for name in MODELS:
        result = measure(name, strategy)
        if result is not None:
            report(name, result, strategy.world_size)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
