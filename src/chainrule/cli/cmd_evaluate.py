"""``chainrule evaluate RUN_DIR``: test a finished run's reported weights again."""

from __future__ import annotations

import argparse
import sys

from chainrule.experiments import evaluate_run


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="test the weights of a run directory",
        description=(
            "Reload RUN_DIR's config.toml and checkpoints/best.npz, and print the test "
            "accuracy, loss, per-class precision and recall, and the confusion matrix."
        ),
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a directory written by 'chainrule train'"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    report = evaluate_run(args.run_dir)
    for warning in report.get("warnings", []):
        print(f"chainrule: warning: {warning}", file=sys.stderr)
    test = report["test"]
    print(
        f"test accuracy {100 * test['accuracy']:.2f}%  loss {test['loss']:.4f}  "
        f"({test['samples']} images)"
    )
    if "vote_accuracy" in test:
        print(f"(the ensemble by majority vote: {100 * test['vote_accuracy']:.2f}%)")
    per_class = report["per_class"]
    print(f"{'class':>5s}  {'precision':>9s}  {'recall':>6s}  {'f1':>6s}  {'support':>7s}")
    for c, (p, r, f, n) in enumerate(
        zip(per_class["precision"], per_class["recall"], per_class["f1"], per_class["support"])
    ):
        print(f"{c:>5d}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {int(n):7d}")
    matrix = report["confusion_matrix"]
    width = max(len(str(v)) for row in matrix for v in row)
    print("confusion matrix (rows: true class, columns: predicted class)")
    for row in matrix:
        print("  " + " ".join(f"{v:>{width}d}" for v in row))
    return 0
