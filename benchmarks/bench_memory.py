"""Memory: the RSS curve of a long MLP run, and peak memory next to PyTorch on the CPU.

    python benchmarks/bench_memory.py            # both parts
    python benchmarks/bench_memory.py curve      # RSS every 100 steps over 2,000 MLP steps
    python benchmarks/bench_memory.py curve --json benchmarks/results/memory.json
    python benchmarks/bench_memory.py --readme benchmarks/results/memory.json  # README only
    python benchmarks/bench_memory.py peak       # peak RSS of the Keras MLP and CNN on MNIST

(a) The curve: an MLP 784-256-128-10 with dropout, SGD with momentum, batches of 64
    MNIST images, 2,000 steps; resident memory after every 100th step, and its largest
    departure from the value after step 100 (the graph and its buffers are freed each
    step, so it should stay flat). The README's sentence (``memory`` markers) is
    written from the JSON.
(b) Peak resident memory of training, each framework in a fresh process that imports
    itself and loads the same MNIST arrays first (the baseline), then trains: the Keras
    MNIST MLP (784-512-512-10 ReLU, dropout 0.2, Adam) and the Keras MNIST CNN (conv 32
    3x3, conv 64 3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5, dense 10,
    Adadelta), as in experiments/keras-*.toml, batch 128, cross-entropy. The peak is
    taken over the training alone (the kernel's high-water mark, reset after loading);
    "training" is that peak minus the baseline.
MNIST is read from $CHAINRULE_MNIST or /work/shared/data/mnist (the IDX .gz files).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

from _models import keras_cnn, keras_mlp
from _readme import README, markers, replace_between
from _timing import machine, write_json

MNIST = Path(os.environ.get("CHAINRULE_MNIST", "/work/shared/data/mnist"))
STEPS = {"mlp": 300, "cnn": 200}
BATCH = 128


def rss_mib() -> float:
    """Resident memory now, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> None:
    """Restart the kernel's high-water mark of resident memory (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mib() -> float:
    """Peak resident memory since ``reset_peak`` (VmHWM), else since the process began."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """The 60,000 training images as float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,)."""
    with gzip.open(MNIST / "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(MNIST / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    x = x.astype(np.float32)
    x /= 255
    return x, y


def batches(x: np.ndarray, y: np.ndarray, size: int, steps: int, seed: int = 0):
    """``steps`` shuffled mini-batches, cycling through the data."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    for step in range(steps):
        start = step * size % (len(x) - size)
        idx = order[start : start + size]
        yield x[idx], y[idx]


# ------------------------------------------------------------------ (a) the curve


def curve() -> dict:
    """RSS after step 1 and every 100th of 2,000 MLP steps, and its largest departure
    from the value after step 100."""
    import chainrule as cr
    import chainrule.functional as F
    from chainrule import nn, optim

    x, y = mnist_train()
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    samples = {}
    for step, (xb, yb) in enumerate(batches(x, y, 64, 2000), start=1):
        loss = F.cross_entropy(model(cr.tensor(xb)), cr.tensor(yb))
        model.zero_grad()
        loss.backward()
        opt.step()
        if step == 1 or step % 100 == 0:
            samples[step] = rss_mib()
    print("\n(a) RSS over 2,000 steps of an MLP 784-256-128-10 (batch 64, MNIST)")
    print(f"{'step':>6s} {'RSS MiB':>9s} {'vs step 100':>12s}")
    for step, rss in samples.items():
        print(f"{step:6d} {rss:9.1f} {100 * (rss / samples[100] - 1):+11.2f}%")
    drift = max(abs(rss / samples[100] - 1) for step, rss in samples.items() if step >= 100)
    print(
        f"largest departure from step 100: {100 * drift:.2f}% (limit 5%); final loss {loss.item():.3f}"
    )
    return {
        "machine": machine(),
        "steps": 2000,
        "rss_mib": {str(step): rss for step, rss in samples.items()},
        "largest_departure": drift,
        "final_loss": loss.item(),
    }


def readme_text(results: dict) -> str:
    """The README's sentence on the RSS curve, from the results alone."""
    return (
        f"Over {results['steps']:,} steps of an MLP (784-256-128-10, dropout, SGD with "
        f"momentum, batch 64, MNIST) the resident set stays within "
        f"{100 * results['largest_departure']:.2f}% of its size after step 100 "
        f"({results['rss_mib']['100']:.0f} MiB)."
    )


# ------------------------------------------------------------- (b) peak memory


def chainrule_run(model_name: str, x: np.ndarray, y: np.ndarray) -> None:
    import chainrule as cr
    import chainrule.functional as F
    from chainrule import nn, optim

    cr.manual_seed(0)
    if model_name == "mlp":
        model = keras_mlp(nn, flatten=True)
        opt = optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        model = keras_cnn(nn)
        opt = optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    for xb, yb in batches(x, y, BATCH, STEPS[model_name]):
        loss = F.cross_entropy(model(cr.tensor(xb)), cr.tensor(yb))
        model.zero_grad()
        loss.backward()
        opt.step()


def torch_run(model_name: str, x: np.ndarray, y: np.ndarray) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    if model_name == "mlp":
        model = keras_mlp(nn, flatten=True)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        model = keras_cnn(nn)
        opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    for xb, yb in batches(x, y, BATCH, STEPS[model_name]):
        loss = nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()


def measure(framework: str, model_name: str) -> None:
    """In this (fresh) process: import, load data, train; print the memory as JSON."""
    import time

    if framework == "torch":
        import torch  # noqa: F401  (its import is part of the baseline)
    else:
        import chainrule  # noqa: F401
    x, y = mnist_train()
    baseline = rss_mib()
    reset_peak()
    start = time.perf_counter()
    (torch_run if framework == "torch" else chainrule_run)(model_name, x, y)
    seconds = time.perf_counter() - start
    print(json.dumps({"baseline": baseline, "peak": peak_rss_mib(), "seconds": seconds}))


def peak() -> None:
    print(f"\n(b) peak RSS of training, batch {BATCH}, float32, CPU (each run a fresh process)")
    print(f"{'model':28s}{'framework':>11s}{'peak MiB':>10s}{'training MiB':>14s}{'s/step':>9s}")
    for model_name, label in (
        ("mlp", "Keras MLP 784-512-512-10"),
        ("cnn", "Keras CNN 32-64-128-10"),
    ):
        results = {}
        for framework in ("chainrule", "torch"):
            out = subprocess.run(
                [sys.executable, __file__, "_measure", framework, model_name],
                capture_output=True,
                text=True,
                check=True,
            )
            results[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        for framework, r in results.items():
            print(
                f"{label + f' x{STEPS[model_name]}':28s}{framework:>11s}{r['peak']:10.1f}"
                f"{r['peak'] - r['baseline']:14.1f}{r['seconds'] / STEPS[model_name]:9.3f}"
            )
        ratio = results["chainrule"]["peak"] / results["torch"]["peak"]
        training_ratio = (results["chainrule"]["peak"] - results["chainrule"]["baseline"]) / (
            results["torch"]["peak"] - results["torch"]["baseline"]
        )
        print(f"{'':28s}chainrule/torch: peak {ratio:.2f}x, training {training_ratio:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        measure(sys.argv[2], sys.argv[3])
        return
    args = sys.argv[1:]
    if "--readme" in args:
        with open(args[args.index("--readme") + 1]) as f:
            replace_between(README, *markers("memory"), readme_text(json.load(f)))
        return
    out = args[args.index("--json") + 1] if "--json" in args else None
    parts = [a for a in args if a in ("curve", "peak")] or ["curve", "peak"]
    if "curve" in parts:
        results = curve()
        if out:
            write_json(out, results)
    if "peak" in parts:
        peak()


if __name__ == "__main__":
    main()
