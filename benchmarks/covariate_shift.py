"""Covariate shift: unweighted training against importance weighting, over seeds.

    OPENBLAS_NUM_THREADS=1 python benchmarks/covariate_shift.py        # measure (~3 min)
    python benchmarks/covariate_shift.py --table                       # README only

The problem is ``chainrule.data.make_covariate_shift``: 2-d Gaussian inputs whose mean
moves by ``shift`` (1 and 2.5 by default) between training and test, labels from a noisy parabola, so the true
density ratio p_test / p_train is known. For two models, a linear one (logistic
regression: it cannot follow the parabola, so where the training data lie decides its
boundary) and an MLP with 32 hidden units (it can), three rows with the same model,
epochs and seed: no weights; weights estimated by a ``LogisticRegression`` domain
classifier, p(test | x) / p(train | x) x n_train / n_test, clipped at 20 x their mean;
and the oracle ratio. Each seed draws fresh data (500 training samples, 500 unlabelled
test inputs for the domain classifier, 10 000 test samples to score). Reports mean and
standard deviation of the test accuracy and the mean effective sample size
(sum w)^2 / sum w^2 of the weights. Writes benchmarks/results/covariate_shift.json and
the README table between the ``covariate-shift`` markers.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from _readme import replace_between
from chainrule.data import make_covariate_shift
from chainrule.train import NeuralNetClassifier
from chainrule.train.serialization import atomic_write_text
from chainrule.train.weights import effective_sample_size, importance_weights

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "covariate_shift.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- covariate-shift:begin -->", "<!-- covariate-shift:end -->"
MODELS = {"linear (misspecified)": (), "MLP 32 (flexible)": (32,)}
METHODS = ("unweighted", "importance, LogisticRegression", "oracle ratio")


def run_shift(seeds: int, shift: float, epochs: int, clip: float) -> dict:
    rows: dict[str, dict[str, dict[str, list[float]]]] = {
        model: {method: {"accuracy": [], "ess": []} for method in METHODS} for model in MODELS
    }
    n_train, n_unlabelled, n_eval = 500, 500, 10_000
    for seed in range(seeds):
        generator = np.random.default_rng(seed)
        (x_train, y_train), (x_test, y_test), ratio = make_covariate_shift(
            n_train, n_unlabelled + n_eval, shift=shift, generator=generator
        )
        unlabelled, (x_eval, y_eval) = (
            x_test[:n_unlabelled],
            (x_test[n_unlabelled:], y_test[n_unlabelled:]),
        )
        weights = {
            "unweighted": None,
            "importance, LogisticRegression": importance_weights(x_train, unlabelled, clip=clip),
            "oracle ratio": ratio(x_train),
        }
        for model_name, hidden in MODELS.items():
            for method, w in weights.items():
                model = NeuralNetClassifier(
                    hidden_layer_sizes=hidden, epochs=epochs, lr=1e-2, seed=seed
                )
                model.fit(x_train, y_train, sample_weight=w)
                row = rows[model_name][method]
                row["accuracy"].append(float(model.score(x_eval, y_eval)))
                row["ess"].append(float(n_train if w is None else effective_sample_size(w)))
            print(
                f"shift {shift} seed {seed} {model_name}: "
                + ", ".join(f"{m} {rows[model_name][m]['accuracy'][-1]:.3f}" for m in METHODS),
                flush=True,
            )
    return {"shift": shift, "rows": rows}


def run(seeds: int, shifts: list[float], epochs: int, clip: float) -> dict:
    return {
        "problem": "make_covariate_shift: x ~ N((-s/2, 0), I) in training, N((s/2, 0), I) in "
        "test; y = [x2 > x1^2 - 1 + N(0, 0.3^2)]; true ratio exp(s x1)",
        "shifts": [run_shift(seeds, shift, epochs, clip) for shift in shifts],
        "n_train": 500,
        "n_unlabelled_test": 500,
        "n_eval": 10_000,
        "epochs": epochs,
        "optimizer": "adam, lr 1e-2, batch 32",
        "clip": clip,
        "seeds": seeds,
    }


def table(result: dict) -> str:
    lines = [
        "| shift s | model | training | test accuracy (mean ± sd) | effective sample size |",
        "|---:|---|---|---:|---:|",
    ]
    for setting in result["shifts"]:
        for model, methods in setting["rows"].items():
            for method, row in methods.items():
                acc = row["accuracy"]
                lines.append(
                    f"| {setting['shift']:g} | {model} | {method} | {statistics.mean(acc):.3f} ± "
                    f"{statistics.stdev(acc):.3f} | {statistics.mean(row['ess']):.0f} of "
                    f"{result['n_train']} |"
                )
    lines.append("")
    lines.append(
        f"{result['seeds']} seeds (fresh data each), "
        f"{result['n_train']} training samples, {result['n_unlabelled_test']} unlabelled test "
        f"inputs for the domain classifier, accuracy on {result['n_eval']} test samples; "
        f"{result['epochs']} epochs, {result['optimizer']}; estimated weights clipped at "
        f"{result['clip']:g} x their mean. From `benchmarks/results/covariate_shift.json`."
    )
    return "\n".join(lines)


def write_readme(result: dict) -> None:
    replace_between(README, BEGIN, END, table(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shifts", type=float, nargs="+", default=[1.0, 2.5])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--clip", type=float, default=20.0)
    parser.add_argument("--table", action="store_true", help="only rewrite the README table")
    args = parser.parse_args()
    if args.table:
        write_readme(json.loads(RESULT.read_text()))
        return
    result = run(args.seeds, args.shifts, args.epochs, args.clip)
    atomic_write_text(RESULT, json.dumps(result, indent=2) + "\n")
    print(table(result))
    write_readme(result)


if __name__ == "__main__":
    main()
