"""What watching a run costs: the Keras MLP trained with and without Monitor / Doctor.

    PYTHONPATH=src python benchmarks/bench_doctor.py [--samples 60000] [--epochs 1] [--repeats 3]

784-512-512-10 ReLU with dropout 0.2, Adam, batch 128, cross-entropy, on MNIST from
/work/shared/data/mnist (or $CHAINRULE_BENCH_MNIST) when present, else random data of
the same shape. The three set-ups run in turn, ``repeats`` times, from the same seed, in
one process; each time is the median over repeats. Overhead is reported three ways:
wall time, CPU time of the process, and the time spent inside the callback's own hooks
(the last is immune to other load on the machine). Target: at most 10% overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from _models import keras_mlp
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, y, source = mnist_like(args.samples)
    steps = args.epochs * -(-len(x) // 128)
    setups = {
        "plain": lambda: None,
        "Monitor": lambda: Timed(Monitor()),
        "Doctor": lambda: Timed(Doctor()),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in setups}
    time_fit(x[:1280], y[:1280], 1, None)  # warm up
    for _ in range(args.repeats):
        for name, make in setups.items():
            runs[name].append(time_fit(x, y, args.epochs, make()))
    print(f"Keras MLP 784-512-512-10, Adam, batch 128, {steps} steps on {source}")
    print(
        f"{'':8s} {'wall':>9s} {'ms/step':>8s} {'overhead':>9s} {'CPU':>9s} {'overhead':>9s} {'in hooks':>9s}"
    )
    wall_base = statistics.median(run[0] for run in runs["plain"])
    cpu_base = statistics.median(run[1] for run in runs["plain"])
    for name, samples in runs.items():
        wall, cpu, hooks = (statistics.median(run[i] for run in samples) for i in range(3))
        print(
            f"{name:8s} {wall:8.2f}s {wall / steps * 1e3:8.2f} {100 * (wall / wall_base - 1):+8.1f}% "
            f"{cpu:8.2f}s {100 * (cpu / cpu_base - 1):+8.1f}% {100 * hooks / wall_base:+8.1f}%"
        )


if __name__ == "__main__":
    main()
