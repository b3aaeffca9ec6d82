"""What watching a run costs: the Keras MLP trained with and without Monitor / Doctor.

    python benchmarks/bench_doctor.py [--samples 60000] [--epochs 1] [--repeats 3]
    python benchmarks/bench_doctor.py --json benchmarks/results/doctor.json
    python benchmarks/bench_doctor.py --readme benchmarks/results/doctor.json  # README only

784-512-512-10 ReLU with dropout 0.2, Adam, batch 128, cross-entropy, on MNIST from
/work/shared/data/mnist (or $CHAINRULE_BENCH_MNIST) when present, else random data of
the same shape. The three set-ups run in turn, ``repeats`` times, from the same seed, in
one process; each time is the median over repeats. Overhead is reported three ways:
wall time, CPU time of the process, and the time spent inside the callback's own hooks
(the last is immune to other load on the machine). Target: at most 10% overhead. The
README's sentence (between the ``doctor`` markers) is written from the JSON results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from _models import keras_mlp
from _readme import README, markers, replace_between
from _timing import machine, write_json
from chainrule import nn, optim
from chainrule.diagnose import Doctor, Monitor
from chainrule.train import Callback, fit

MNIST = Path(os.environ.get("CHAINRULE_BENCH_MNIST", "/work/shared/data/mnist"))


def mnist_like(samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    if (MNIST / "train-images-idx3-ubyte.gz").exists():
        from chainrule.data import load_mnist

        (x, y), _ = load_mnist(MNIST, download=False)
        x = x[:samples].reshape(-1, 784).astype(np.float32) / 255.0
        return x, y[:samples], f"MNIST ({len(x)} images)"
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    return x, rng.integers(0, 10, samples), f"random MNIST-shaped data ({samples} samples)"


class Timed(Callback):
    """Runs ``inner``'s hooks and adds up the wall time they take."""

    HOOKS = ("train_begin", "train_end", "epoch_begin", "epoch_end", "batch_begin", "batch_end")

    def __init__(self, inner: Callback) -> None:
        self.inner = inner
        self.seconds = 0.0
        for hook in self.HOOKS:
            setattr(self, f"on_{hook}", self._timed(getattr(inner, f"on_{hook}")))

    def set_trainer(self, trainer: object) -> None:
        self.inner.set_trainer(trainer)

    def _timed(self, method: object) -> object:
        def run(*args: object) -> None:
            start = time.perf_counter()
            method(*args)
            self.seconds += time.perf_counter() - start

        return run


def time_fit(
    x: np.ndarray, y: np.ndarray, epochs: int, callback: Timed | None
) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, seconds inside the callback) of one training run."""
    cr.manual_seed(0)
    model = keras_mlp(nn)
    start, cpu_start = time.perf_counter(), time.process_time()
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.Adam(model.parameters(), lr=1e-3),
        epochs=epochs,
        batch_size=128,
        callbacks=[callback] if callback is not None else [],
        verbose=0,
    )
    hooks = callback.seconds if callback is not None else 0.0
    return time.perf_counter() - start, time.process_time() - cpu_start, hooks


def measure(samples: int, epochs: int, repeats: int) -> dict:
    """The three set-ups' medians over ``repeats``: wall, CPU and in-hook seconds."""
    x, y, source = mnist_like(samples)
    setups = {
        "plain": lambda: None,
        "Monitor": lambda: Timed(Monitor()),
        "Doctor": lambda: Timed(Doctor()),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in setups}
    time_fit(x[:1280], y[:1280], 1, None)  # warm up
    for _ in range(repeats):
        for name, make in setups.items():
            runs[name].append(time_fit(x, y, epochs, make()))
    keys = ("wall_s", "cpu_s", "hooks_s")
    return {
        "machine": machine(),
        "source": source,
        "epochs": epochs,
        "steps": epochs * -(-len(x) // 128),
        "repeats": repeats,
        "setups": {
            name: {key: statistics.median(run[i] for run in samples) for i, key in enumerate(keys)}
            for name, samples in runs.items()
        },
    }


def report(results: dict) -> None:
    steps, setups = results["steps"], results["setups"]
    print(f"Keras MLP 784-512-512-10, Adam, batch 128, {steps} steps on {results['source']}")
    print(
        f"{'':8s} {'wall':>9s} {'ms/step':>8s} {'overhead':>9s} {'CPU':>9s} {'overhead':>9s} {'in hooks':>9s}"
    )
    wall_base, cpu_base = setups["plain"]["wall_s"], setups["plain"]["cpu_s"]
    for name, r in setups.items():
        wall, cpu, hooks = r["wall_s"], r["cpu_s"], r["hooks_s"]
        print(
            f"{name:8s} {wall:8.2f}s {wall / steps * 1e3:8.2f} {100 * (wall / wall_base - 1):+8.1f}% "
            f"{cpu:8.2f}s {100 * (cpu / cpu_base - 1):+8.1f}% {100 * hooks / wall_base:+8.1f}%"
        )


def readme_text(results: dict) -> str:
    """The README's sentence on the doctor's cost, from the results alone."""
    setups = results["setups"]
    base = setups["plain"]["wall_s"]

    def cost(name: str) -> str:
        r = setups[name]
        return (
            f"`{name}` {100 * (r['wall_s'] / base - 1):+.1f}% wall time "
            f"({100 * r['hooks_s'] / base:+.1f}% inside its hooks)"
        )

    epochs = "one MNIST epoch" if results["epochs"] == 1 else f"{results['epochs']} epochs"
    return (
        f"{cost('Monitor')}, {cost('Doctor')} over plain training (target 10%): the Keras "
        f"MLP, {epochs} ({results['steps']} steps on {results['source']}), medians of "
        f"{results['repeats']} runs each, on {results['machine']['cpu']}. The time inside the "
        "hooks is the steadier figure: wall time on this shared machine moves by more than "
        "the differences."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--readme", metavar="FILE", help="rewrite README.md's sentence from FILE")
    args = parser.parse_args()
    if args.readme:
        with open(args.readme) as f:
            replace_between(README, *markers("doctor"), readme_text(json.load(f)))
        return
    results = measure(args.samples, args.epochs, args.repeats)
    report(results)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
