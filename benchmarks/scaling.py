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

The ring model alone leaves out what ``MPIStrategy.sync`` does around the allreduce:
packing the gradients into one buffer, unpacking and scaling them, and the element-wise
sums of the reduction itself. That per-step cost is measured at N = 2 (the fused
allreduce minus the ring model's prediction for it) and added to every prediction as a
constant: it is memory traffic over the whole gradient buffer in every process, which
does not shrink with N. Its limits: it is measured on one machine with two processes
sharing memory bandwidth, and a faster or slower host changes it.

Results go to benchmarks/results/scaling.json; ``python benchmarks/scaling.py --readme``
writes the README's scaling section from that file (between the ``scaling:begin`` /
``scaling:end`` markers).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per process
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from _readme import replace_between
from chainrule import nn, optim
from chainrule.distributed import MPIStrategy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- scaling:begin -->", "<!-- scaling:end -->"
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


def model_of(m: dict, world: int) -> dict:
    """This machine's alpha and beta, and the per-step constant the ring model leaves out
    (pack, unpack, the reduction's sums): the measured fused allreduce minus the ring
    model's prediction for it, at N = ``world``."""
    alpha = m["latency"] / (2 * (world - 1))  # from an 8-byte allreduce
    sent = 2 * (world - 1) / world * PROBE_BYTES  # and beta from a 4 MB one
    beta = sent / max(m["probe"] - 2 * (world - 1) * alpha, 1e-9)
    ring = ring_allreduce_seconds(world, m["bytes"], alpha, beta)
    return {"alpha": alpha, "beta": beta, "ring": ring, "overhead": max(m["allreduce"] - ring, 0.0)}


def comm_seconds(n: int, nbytes: int, alpha: float, beta: float, overhead: float) -> float:
    """The modelled allreduce of a step: the ring plus the measured per-step constant."""
    return 0.0 if n == 1 else ring_allreduce_seconds(n, nbytes, alpha, beta) + overhead


def predictions(m: dict, overhead: float) -> dict:
    """Per network: speed-up T(1) / T(N) and communication fraction for every N, and the
    N from which the allreduce takes longer than the compute."""
    compute, out = m["compute"], {}
    for net, (a, b) in NETWORKS.items():
        rows = []
        for n in WORLD_SIZES:
            comm = comm_seconds(n, m["bytes"], a, b, overhead)
            t = compute[n] + comm
            rows.append({"n": n, "speedup": compute[1] / t, "comm_fraction": comm / t})
        crossover = next((r["n"] for r in rows if r["comm_fraction"] > 0.5), None)  # comm > compute
        out[net] = {"rows": rows, "crossover": crossover}
    return out


def report(name: str, m: dict, world: int) -> dict:
    """Print the measured N = ``world`` figures and the model's predictions; return both."""
    compute, nbytes = m["compute"], m["bytes"]
    fit = model_of(m, world)
    predicted_comm = fit["ring"] + fit["overhead"]
    predicted_step = compute[world] + predicted_comm
    print(f"\n{name}: {nbytes / 1e6:.2f} MB of gradients (float32), global batch {GLOBAL_BATCH}")
    print(
        "  compute per step, one process: "
        + ", ".join(f"B={GLOBAL_BATCH // n}: {compute[n] * 1e3:.1f} ms" for n in WORLD_SIZES)
    )
    print(
        f"  measured at N = {world} (shared memory, alpha {fit['alpha'] * 1e6:.0f} us, "
        f"beta {fit['beta'] / 1e9:.2f} GB/s): fused allreduce {m['allreduce'] * 1e3:.1f} ms, "
        f"ring model {fit['ring'] * 1e3:.1f} ms, so the per-step constant (pack, unpack, "
        f"sums) is {fit['overhead'] * 1e3:.1f} ms"
    )
    print(
        f"    data-parallel step {m['step'] * 1e3:.1f} ms (model: {predicted_step * 1e3:.1f} ms); "
        f"speed-up {compute[1] / m['step']:.2f}x (model: {compute[1] / predicted_step:.2f}x)"
    )
    predicted = predictions(m, fit["overhead"])
    print("  predicted speed-up T(1) / T(N), T(N) = compute(B/N) + ring allreduce + constant:")
    print(f"    {'N':>4s}" + "".join(f"{net:>22s}" for net in NETWORKS))
    for i, n in enumerate(WORLD_SIZES):
        cells = [
            f"{p['rows'][i]['speedup']:8.2f}x (comm {p['rows'][i]['comm_fraction']:4.0%})"
            for p in predicted.values()
        ]
        print(f"    {n:4d}" + "".join(f"{c:>22s}" for c in cells))
    return {
        "model": name,
        "bytes": nbytes,
        "world": world,
        "compute_s": {str(n): compute[n] for n in WORLD_SIZES},
        "allreduce_s": m["allreduce"],
        "step_s": m["step"],
        "alpha_s": fit["alpha"],
        "beta_bytes_per_s": fit["beta"],
        "ring_model_s": fit["ring"],
        "overhead_s": fit["overhead"],
        "predicted_step_s": predicted_step,
        "predictions": predicted,
    }


def readme_section(results: dict) -> str:
    """The README's scaling section, from benchmarks/results/scaling.json."""
    rows = [
        "| model | gradients | compute at B/2 | fused allreduce | ring model + constant | "
        "data-parallel step (model) | speed-up over 1 process (model) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["models"]:
        compute = r["compute_s"]
        rows.append(
            f"| {r['model']} | {r['bytes'] / 1e6:.2f} MB | {compute['2'] * 1e3:.1f} ms | "
            f"{r['allreduce_s'] * 1e3:.1f} ms | {r['ring_model_s'] * 1e3:.1f} + "
            f"{r['overhead_s'] * 1e3:.1f} ms | {r['step_s'] * 1e3:.1f} ms "
            f"({r['predicted_step_s'] * 1e3:.1f} ms) | {compute['1'] / r['step_s']:.2f}x "
            f"({compute['1'] / r['predicted_step_s']:.2f}x) |"
        )
    lines = [
        "**Data-parallel scaling** (`mpiexec -n 2 python benchmarks/scaling.py`, one BLAS "
        "thread per process, global batch 128), measured at N = 2 on this machine. The model "
        "is the ring allreduce (latency + 2(N-1)/N x bytes / bandwidth, with the machine's own "
        "measured latency and bandwidth) plus a per-step constant measured here: packing and "
        "unpacking the gradient buffer and the reduction's sums, which the ring leaves out and "
        "which do not shrink with N.",
        "",
        *rows,
        "",
        "Predicted speed-up T(1) / T(N) at 10 and 100 Gb/s (the constant included; "
        "communication's share of the step in brackets):",
        "",
        "| model | network | " + " | ".join(f"N = {n}" for n in WORLD_SIZES) + " |",
        "|---|---|" + "---|" * len(WORLD_SIZES),
    ]
    for r in results["models"]:
        for net, p in r["predictions"].items():
            cells = [f"{x['speedup']:.2f}x ({x['comm_fraction']:.0%})" for x in p["rows"]]
            lines.append(f"| {r['model']} | {net} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Limits: the constant was measured with two processes sharing one machine's memory "
        "bandwidth; on other hosts it differs, and beyond it the model ignores contention in "
        "the network and stragglers. " + results["note"],
    ]
    return "\n".join(lines)


def write_readme(results: dict) -> None:
    replace_between(README, BEGIN, END, readme_section(results))


def main() -> None:
    if "--readme" in sys.argv[1:]:  # only rewrite the README from the stored results
        write_readme(json.loads(RESULTS.read_text()))
        return
    strategy = MPIStrategy()
    if strategy.world_size < 2:
        sys.exit("run under MPI with two processes: mpiexec -n 2 python benchmarks/scaling.py")
    models = []
    for name in MODELS:
        result = measure(name, strategy)
        if result is not None:
            models.append(report(name, result, strategy.world_size))
            sys.stdout.flush()
    if strategy.is_writer:
        from chainrule.experiments.report import machine
        from chainrule.train.serialization import atomic_write_text

        results = {
            "models": models,
            "machine": machine(),
            "note": "Measured on a 2-core machine shared with other work, so the N = 2 "
            "figures are noisy and fall short of an idle machine's.",
        }
        atomic_write_text(RESULTS, json.dumps(results, indent=1) + "\n")
        write_readme(results)


if __name__ == "__main__":
    main()
