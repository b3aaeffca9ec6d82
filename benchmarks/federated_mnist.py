"""McMahan et al. (2017) on MNIST with the 2NN: rounds of communication until 97% test accuracy.

The 2NN is an MLP with two hidden layers of 200 ReLU units. K = 100 clients hold 600
training images each: IID (a random split) or pathological non-IID (sorted by label,
200 shards of 300, two shards per client). Each round a fraction C = 0.1 of the clients
trains; FedSGD takes one full-batch gradient step per client (E = 1, B = inf), FedAvg
runs E local epochs in batches of B. Test accuracy is measured after every round.

    python benchmarks/federated_mnist.py --algorithm fedavg --partition iid --epochs 5 --batch-size 10
    python benchmarks/federated_mnist.py --algorithm fedsgd --partition noniid --lr 0.5 --max-rounds 3000
    python benchmarks/federated_mnist.py --table results.jsonl   # the table of runs so far

Each run appends one JSON line to --out. ``mpiexec -n 2 python benchmarks/federated_mnist.py
--mpi ...`` shares each round's clients out over the processes.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matmuls: threads only contend
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import load_mnist
from chainrule.federated import (
    FedAvg,
    FedSGD,
    iid_partition,
    pathological_non_iid_partition,
)


def two_nn() -> nn.Module:
    """The paper's 2NN: 784 -> 200 -> 200 -> 10, ReLU (199,210 parameters)."""
    return nn.Sequential(
        nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10)
    )


def mnist(path: str | None) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    (x, y), (x_test, y_test) = load_mnist(path)
    scale = np.float32(1 / 255)
    return (x.reshape(len(x), -1) * scale, y), (x_test.reshape(len(x_test), -1) * scale, y_test)


def run(args: argparse.Namespace) -> dict:
    (x, y), test = mnist(args.data)
    split = np.random.default_rng(args.seed)
    parts = (
        iid_partition(len(x), args.clients, split)
        if args.partition == "iid"
        else pathological_non_iid_partition(y, args.clients, 2, split)
    )
    clients = [(x[p], y[p]) for p in parts]
    cr.manual_seed(args.seed)
    model = two_nn()
    common = dict(lr=args.lr, fraction=args.fraction, seed=args.seed)
    strategy = "mpi" if args.mpi else None
    if args.algorithm == "fedsgd":
        server = FedSGD(model, clients, strategy=strategy, **common)
    else:
        server = FedAvg(
            model,
            clients,
            local_epochs=args.epochs,
            local_batch_size=args.batch_size,
            strategy=strategy,
            **common,
        )
    writer = server.strategy.is_writer
    start = time.perf_counter()

    def report(round_: int, logs: dict) -> None:
        if writer and (round_ % args.print_every == 0 or logs["accuracy"] >= args.target):
            print(
                f"round {round_:5d}  test accuracy {logs['accuracy']:.4f}  "
                f"loss {logs['loss']:.4f}  ({time.perf_counter() - start:.0f}s)",
                flush=True,
            )

    history = server.fit(args.max_rounds, test_data=test, target=args.target, callback=report)
    seconds = time.perf_counter() - start
    return {
        "algorithm": args.algorithm,
        "partition": args.partition,
        "E": 1 if args.algorithm == "fedsgd" else args.epochs,
        "B": "inf" if args.algorithm == "fedsgd" or args.batch_size is None else args.batch_size,
        "lr": args.lr,
        "C": args.fraction,
        "K": args.clients,
        "target": args.target,
        "rounds_to_target": server.rounds_to_target,
        "rounds_run": server.round,
        "best_accuracy": max(history["accuracy"]),
        "seconds": round(seconds, 1),
        "processes": server.strategy.world_size,
    }


def table(path: Path) -> str:
    """The runs in ``path`` as a Markdown table, each FedAvg row with its speed-up over
    the FedSGD run of the same partition."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    fedsgd = {r["partition"]: r for r in rows if r["algorithm"] == "fedsgd"}
    lines = [
        "| partition | algorithm | E | B | lr | rounds to 97% | speed-up vs FedSGD | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rounds = r["rounds_to_target"]
        shown = (
            str(rounds)
            if rounds is not None
            else f"> {r['rounds_run']} (best {r['best_accuracy']:.4f})"
        )
        base = fedsgd.get(r["partition"])
        speedup = ""
        if r["algorithm"] == "fedavg" and base is not None:
            if rounds is not None and base["rounds_to_target"] is not None:
                speedup = f"{base['rounds_to_target'] / rounds:.1f}x"
            elif rounds is not None:  # FedSGD stopped short: it needs more rounds than it ran
                speedup = f">= {base['rounds_run'] / rounds:.1f}x"
            elif base["rounds_to_target"] is not None:  # FedAvg stopped short
                speedup = f"< {base['rounds_to_target'] / r['rounds_run']:.1f}x"
        lines.append(
            f"| {r['partition']} | {r['algorithm']} | {r['E']} | {r['B']} | {r['lr']} | {shown} "
            f"| {speedup} | {r['seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", choices=["fedavg", "fedsgd"], default="fedavg")
    parser.add_argument("--partition", choices=["iid", "noniid"], default="iid")
    parser.add_argument("--clients", type=int, default=100, help="K")
    parser.add_argument("--fraction", type=float, default=0.1, help="C")
    parser.add_argument("--epochs", type=int, default=5, help="E (FedAvg)")
    parser.add_argument(
        "--batch-size",
        type=lambda s: None if s == "inf" else int(s),
        default=10,
        help="B (FedAvg; 'inf' for the whole local set)",
    )
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--max-rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--print-every", type=int, default=10)
    parser.add_argument("--data", default=None, help="directory holding the MNIST files")
    parser.add_argument("--out", type=Path, default=Path("federated_mnist.jsonl"))
    parser.add_argument(
        "--mpi", action="store_true", help="share clients out over mpiexec's processes"
    )
    parser.add_argument(
        "--table", type=Path, help="print the table of the runs in this file and stop"
    )
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    result = run(args)
    if result["processes"] == 1 or int(os.environ.get("PMI_RANK", "0")) == 0:
        print(json.dumps(result))
        with args.out.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
