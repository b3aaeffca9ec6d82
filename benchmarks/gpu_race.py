"""chainrule against PyTorch on one device (a GPU by default): seconds per training step.

    python benchmarks/gpu_race.py                       # --device cuda: CuPy and a CUDA torch
    python benchmarks/gpu_race.py --device cpu --quick  # the same race on the CPU

The Keras MLP and CNN (benchmarks/_models.py) at batch 128, Adam, cross-entropy, random
MNIST-shaped batches already on the device. Each step ends by reading the loss (both
libraries' training loops do; on a GPU it also waits for the step to finish). Each
library runs in its own process, the two alternating, for ``--rounds`` rounds; a
process warms up, then reports the median of its timed steps. The result is the median
over rounds and chainrule's ratio to PyTorch. ``--json FILE`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = ("keras-mlp", "keras-cnn")
BATCH = 128


def worker(library: str, model_name: str, device: str, steps: int) -> float:
    """Median seconds of one training step of ``model_name`` in ``library`` on ``device``."""
    sys.path.insert(0, str(HERE))
    from _models import keras_cnn, keras_mlp
    from _timing import median_time

    rng = np.random.default_rng(0)
    shape = (BATCH, 784) if model_name == "keras-mlp" else (BATCH, 1, 28, 28)
    x_host = rng.standard_normal(shape).astype(np.float32)
    y_host = rng.integers(0, 10, BATCH)
    build = keras_mlp if model_name == "keras-mlp" else keras_cnn
    if library == "torch":
        import torch

        model = build(torch.nn).to(device)
        optimizer = torch.optim.Adam(model.parameters())
        x, y = torch.tensor(x_host, device=device), torch.tensor(y_host, device=device)

        def step() -> float:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()
    else:
        import chainrule as cr
        from chainrule import nn, optim
        from chainrule.functional import cross_entropy

        model = build(nn).to(device)
        optimizer = optim.Adam(model.parameters())
        x = cr.Tensor(cr.backend.asarray(x_host, device=device))
        y = cr.Tensor(cr.backend.asarray(y_host, device=device))

        def step() -> float:
            optimizer.zero_grad()
            loss = cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()

    return median_time(step, repeats=steps, warmup=5)  # step() ends in loss.item(): synchronised


def race(device: str, rounds: int, steps: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for model_name in MODELS:
        samples: dict[str, list[float]] = {"chainrule": [], "torch": []}
        for _ in range(rounds):
            for library in samples:
                command = [sys.executable, __file__, "--worker", library, model_name]
                command += ["--device", device, "--steps", str(steps)]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                samples[library].append(float(done.stdout.split()[-1]))
        medians = {library: statistics.median(times) for library, times in samples.items()}
        results[model_name] = {
            "chainrule_s": medians["chainrule"],
            "torch_s": medians["torch"],
            "chainrule_over_torch": medians["chainrule"] / medians["torch"],
            "rounds": rounds,
            "steps_per_round": steps,
        }
        print(
            f"{model_name:10s}  chainrule {medians['chainrule'] * 1e3:8.2f} ms  "
            f"torch {medians['torch'] * 1e3:8.2f} ms  ratio {results[model_name]['chainrule_over_torch']:.2f}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 timed steps a round, not 50")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(worker(*args.worker, args.device, args.steps))
        return
    results = race(args.device, args.rounds, 10 if args.quick else 50)
    if args.json:
        sys.path.insert(0, str(HERE.parent / "src"))
        from chainrule.experiments.report import machine
        from chainrule.train.serialization import atomic_write_text

        record = {"device": args.device, "batch": BATCH, "machine": machine(), "models": results}
        atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
