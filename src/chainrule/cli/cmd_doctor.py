"""``chainrule doctor RUN_DIR``: what went wrong in a run, in plain words, most important first."""

from __future__ import annotations

import argparse
from pathlib import Path

from chainrule.diagnose import diagnose_run, report, write_plots


def fraction(text: str) -> float:
    """An argparse type: an error rate as a fraction in [0, 1] ('0.01') or a percentage ('1%')."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected an error rate as a fraction in [0, 1] (0.01) or a percentage (1%); got {text!r}"
        )
    return value


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor",
        help="diagnose a run directory",
        description=(
            "Read RUN_DIR's history.csv (and the diagnostics.json a Monitor or Doctor callback "
            "wrote), print what went wrong, most important first, with the numbers and what "
            "to try, and draw learning_curves.png (and gradient_norms.png) into RUN_DIR."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with history.csv")
    parser.add_argument(
        "--human-error",
        type=fraction,
        metavar="X",
        help="human-level or target error (0.01 or 1%%): adds the bias/variance verdict "
        "(needs accuracy in the history)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    members = sorted(
        (p for p in (run_dir / "members").glob("*") if p.name.isdigit()), key=lambda p: int(p.name)
    )
    if (run_dir / "history.csv").is_file() or not members:
        return _diagnose(run_dir, args.human_error)
    for member in members:  # an ensemble: each member is a run of its own
        print(f"member {member.name} ({member}):")
        _diagnose(member, args.human_error)
        print()
    return 0


def _diagnose(run_dir: Path, human_error: float | None) -> int:
    print(report(diagnose_run(run_dir, human_error)))
    try:
        written = write_plots(run_dir)
    except ImportError as error:  # the findings stand without the pictures
        print(f"\nno plots: {error}")
        return 0
    print("\nplots: " + ", ".join(str(path) for path in written))
    return 0
