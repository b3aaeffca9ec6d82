"""Time to 99% on MNIST: the ``mnist-speedrun`` experiment, and the same recipe in PyTorch.

    python benchmarks/speedrun.py                     # 5 seeds each, needs torch==2.13.0
    python benchmarks/speedrun.py --seeds 0 1 --json benchmarks/results/speedrun.json
    python benchmarks/speedrun.py --readme benchmarks/results/speedrun.json

chainrule: each seed is one ``chainrule train mnist-speedrun --seed S`` process, timed
from its start to the printed test result (data loading, checkpoints and the doctor's
monitor included), as a user would run it. PyTorch: one process per seed running the
same recipe: the same layers and initial weights (chainrule's, copied), the same
held-out split, the same sample order every epoch (chainrule's generator, seeded alike),
Adam under the same one-cycle schedule, batch size and epochs, then the test set;
timed the same way, from process start. The two take turns, seed by seed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from _readme import replace_between
from _timing import child_env, machine, try_import_torch, write_json

EXPERIMENT = "mnist-speedrun"
BEGIN, END = "<!-- speedrun:begin -->", "<!-- speedrun:end -->"


def run_chainrule(seed: int, threads: int, run_root: str) -> dict[str, float]:
    os.makedirs(run_root, exist_ok=True)
    run_dir = os.path.join(tempfile.mkdtemp(prefix=f"seed{seed}-", dir=run_root), "run")
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", EXPERIMENT, "--seed", str(seed),
         "--run-dir", run_dir, "--quiet"],
        capture_output=True, text=True, env=child_env(threads),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"chainrule train failed:\n{out.stderr[-3000:]}")
    match = re.search(r"test accuracy ([\d.]+)%", out.stdout + out.stderr)
    if match is None:
        raise SystemExit(f"no test accuracy in the output:\n{out.stdout[-2000:]}")
    return {"seconds": seconds, "accuracy": float(match.group(1)) / 100}


def run_torch(seed: int, threads: int) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--torch-child", str(seed),
         "--threads", str(threads)],
        capture_output=True, text=True, env=child_env(threads),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"the PyTorch port failed:\n{out.stderr[-3000:]}")
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, **measured}


def torch_child(seed: int, threads: int) -> dict[str, float]:
    """The recipe of experiments/named/mnist-speedrun.toml, written in PyTorch."""
    import torch

    torch.set_num_threads(threads)
    import numpy as np

    import chainrule as cr
    from chainrule.experiments import load_config
    from chainrule.experiments.data_prep import prepare_data
    from chainrule.experiments.layers import build_model

    config = load_config(EXPERIMENT)
    data = prepare_data(config)
    cr.manual_seed(seed)  # as the runner does: initial weights, then the epochs' orders
    model = build_model(config)
    net = to_torch(torch, model)
    schedule = config.schedule.args
    opt = torch.optim.Adam(net.parameters(), lr=config.optimizer.args.get("lr", 1e-3))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=schedule["max_lr"],
        total_steps=schedule["total_steps"],
        pct_start=schedule.get("pct_start", 0.3),
        div_factor=schedule.get("div_factor", 25.0),
        final_div_factor=schedule.get("final_div_factor", 1e4),
        anneal_strategy="cos",
        cycle_momentum=False,
    )
    x_train, y_train = data.train[np.arange(len(data.train))]  # normalised, as batches are
    xt, yt = torch.from_numpy(np.ascontiguousarray(x_train)), torch.from_numpy(y_train)
    batch = config.training.batch_size
    started = time.perf_counter()
    for _ in range(config.training.epochs):
        net.train()
        order = torch.from_numpy(cr.backend.default_generator().permutation(len(y_train)))
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    training = time.perf_counter() - started
    net.eval()
    x_test, y_test = data.test
    with torch.no_grad():
        predicted = net(torch.from_numpy(np.ascontiguousarray(x_test))).argmax(1).numpy()
    return {"accuracy": float((predicted == y_test).mean()), "training_seconds": training}


def to_torch(torch, model):
    """chainrule's Sequential of conv / batch-norm / ReLU / pool / flatten / linear layers,
    rebuilt in PyTorch with the same weights."""
    tnn, layers = torch.nn, []
    for layer in model:
        kind = type(layer).__name__
        if kind == "Conv2d":
            t = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                           layer.stride, layer.padding, bias=layer.bias is not None)  # fmt: skip
        elif kind == "BatchNorm2d":
            t = tnn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        elif kind == "Linear":
            t = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        elif kind == "MaxPool2d":
            t = tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif kind == "ReLU":
            t = tnn.ReLU()
        elif kind == "Flatten":
            t = tnn.Flatten()
        else:
            raise SystemExit(f"speedrun's PyTorch port has no {kind}")
        with torch.no_grad():
            for name, p in layer.named_parameters():
                getattr(t, name).copy_(torch.from_numpy(p.numpy()))
        layers.append(t)
    return tnn.Sequential(*layers)


def stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def readme_table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"{len(results['seeds'])} seeds ({', '.join(map(str, results['seeds']))}), "
        f"{results['threads']} threads, {m['cpu']}, {m['cores']} cores; wall time from "
        "process start to the printed test accuracy, data loading included.",
        "",
        "| library | test accuracy, mean ± std | worst seed | wall time, mean [min - max] |",
        "|---|---|---|---|",
    ]
    for lib, label in (("chainrule", "chainrule (`chainrule train mnist-speedrun`)"),
                       ("torch", f"PyTorch {results.get('torch') or ''} (same recipe)")):  # fmt: skip
        if lib not in results["summary"]:
            continue
        acc, sec = results["summary"][lib]["accuracy"], results["summary"][lib]["seconds"]
        lines.append(
            f"| {label} | {100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f} | "
            f"{100 * acc['min']:.2f}% | {sec['mean']:.1f} s [{sec['min']:.1f} - {sec['max']:.1f}] |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-root", default="runs/speedrun")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--readme", metavar="FILE", help="rewrite README.md's table from FILE")
    parser.add_argument("--torch-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child is not None:
        print(json.dumps(torch_child(args.torch_child, args.threads)))
        return
    if args.readme:
        with open(args.readme) as f:
            results = json.load(f)
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
        replace_between(readme, BEGIN, END, readme_table(results))
        return
    torch = None if args.no_torch else try_import_torch()
    runs: dict[str, list[dict[str, float]]] = {"chainrule": []}
    if torch:
        runs["torch"] = []
    for seed in args.seeds:
        runs["chainrule"].append({"seed": seed, **run_chainrule(seed, args.threads, args.run_root)})
        print("chainrule", runs["chainrule"][-1], flush=True)
        if torch:
            runs["torch"].append({"seed": seed, **run_torch(seed, args.threads)})
            print("torch    ", runs["torch"][-1], flush=True)
    results = {
        "machine": machine(),
        "torch": torch.__version__ if torch else None,
        "threads": args.threads,
        "seeds": args.seeds,
        "runs": runs,
        "summary": {
            lib: {key: stats([r[key] for r in rs]) for key in ("accuracy", "seconds")}
            for lib, rs in runs.items()
        },
    }
    print(readme_table(results))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
