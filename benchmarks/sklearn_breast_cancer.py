"""5-fold cross-validation on scikit-learn's breast-cancer set: NeuralNetClassifier against
MLPClassifier, the same network (one hidden layer of 64 ReLU units, one logistic output),
the same optimiser (Adam, lr 1e-3, no L2), epochs and batch size.

    OPENBLAS_NUM_THREADS=1 python benchmarks/sklearn_breast_cancer.py            # measure
    python benchmarks/sklearn_breast_cancer.py --table                           # README only

Each library runs in its own process, alternating, for ``--rounds`` rounds; the ratio is of
the medians. Writes benchmarks/results/sklearn_breast_cancer.json, from which the README
table between the ``sklearn-timing`` markers is written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from _readme import replace_between

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "sklearn_breast_cancer.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- sklearn-timing:begin -->", "<!-- sklearn-timing:end -->"
LIBRARIES = ("MLPClassifier", "NeuralNetClassifier")


def estimator(library: str, epochs: int, batch_size: int):
    if library == "MLPClassifier":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=(64,),
            solver="adam",
            learning_rate_init=1e-3,
            alpha=0.0,
            batch_size=batch_size,
            max_iter=epochs,
            n_iter_no_change=epochs + 1,  # exactly `epochs` epochs, no early stop
            tol=0.0,
            random_state=0,
        )
    from chainrule.train import NeuralNetClassifier

    return NeuralNetClassifier(
        hidden_layer_sizes=(64,), optimizer="adam", lr=1e-3, epochs=epochs, batch_size=batch_size
    )


def worker(library: str, epochs: int, batch_size: int) -> dict:
    """One 5-fold CV in this process: seconds and the fold accuracies."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), estimator(library, epochs, batch_size))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's ConvergenceWarning at max_iter
        start = time.perf_counter()
        scores = cross_val_score(model, x, y, cv=folds)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "accuracies": [float(s) for s in scores]}


def measure(rounds: int, epochs: int, batch_size: int) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    runs: dict[str, list[dict]] = {name: [] for name in LIBRARIES}
    for round_ in range(rounds):
        for library in LIBRARIES if round_ % 2 == 0 else LIBRARIES[::-1]:
            command = [sys.executable, __file__, "--worker", library]
            command += ["--epochs", str(epochs), "--batch-size", str(batch_size)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            runs[library].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1} {library}: {runs[library][-1]['seconds']:.2f} s", flush=True)
    summary = {
        name: {
            "median_seconds": statistics.median(r["seconds"] for r in results),
            "seconds": [r["seconds"] for r in results],
            "mean_accuracy": statistics.mean(results[0]["accuracies"]),
            "fold_accuracies": results[0]["accuracies"],
        }
        for name, results in runs.items()
    }
    ratio = (
        summary["NeuralNetClassifier"]["median_seconds"]
        / summary["MLPClassifier"]["median_seconds"]
    )
    return {
        "task": "5-fold CV (StratifiedKFold, shuffled, seed 0) of StandardScaler + classifier "
        "on load_breast_cancer (569 x 30)",
        "network": "30-64-1, ReLU, logistic output, Adam lr 1e-3, no L2",
        "epochs": epochs,
        "batch_size": batch_size,
        "rounds": rounds,
        "threads": env["OPENBLAS_NUM_THREADS"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
        "results": summary,
        "ratio_chainrule_to_sklearn": ratio,
        "target_ratio": 1.5,
    }


def table(result: dict) -> str:
    rows = [
        "| estimator | median time (s) | each run (s) | mean accuracy |",
        "|---|---:|---:|---:|",
    ]
    for name in LIBRARIES:
        r = result["results"][name]
        runs = ", ".join(f"{t:.2f}" for t in r["seconds"])
        rows.append(f"| `{name}` | {r['median_seconds']:.2f} | {runs} | {r['mean_accuracy']:.4f} |")
    rows.append("")
    rows.append(
        f"{result['task']}; {result['network']}; {result['epochs']} epochs, batch "
        f"{result['batch_size']}; median of {result['rounds']} alternating runs, each library "
        f"in its own process, {result['threads']} BLAS thread, on {result['machine']}. "
        f"NeuralNetClassifier / MLPClassifier time: **{result['ratio_chainrule_to_sklearn']:.2f}x** "
        f"(target <= {result['target_ratio']}x)."
    )
    return "\n".join(rows)


def write_readme(result: dict) -> None:
    replace_between(README, BEGIN, END, table(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=LIBRARIES)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--table", action="store_true", help="only rewrite the README table")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.epochs, args.batch_size)))
        return
    if args.table:
        write_readme(json.loads(RESULT.read_text()))
        return
    from chainrule.train.serialization import atomic_write_text

    result = measure(args.rounds, args.epochs, args.batch_size)
    atomic_write_text(RESULT, json.dumps(result, indent=2) + "\n")
    print(table(result))
    write_readme(result)


if __name__ == "__main__":
    main()
