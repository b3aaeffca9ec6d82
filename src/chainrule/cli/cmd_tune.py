"""``chainrule tune SEARCH.toml``: grid, random or Bayesian search over an experiment."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from chainrule import tune
from chainrule.cli import int_at_least
from chainrule.errors import ArgumentError
from chainrule.experiments.config import to_toml
from chainrule.experiments.tuning import ExperimentObjective, load_search
from chainrule.train.serialization import atomic_write_text


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tune",
        help="search hyperparameters of an experiment",
        description=(
            "Train variants of an experiment as SEARCH.toml describes (see "
            "chainrule.experiments.tuning), score each on held-out validation data, and "
            "print the trials best first. With --storage several workers (this command run "
            "on several machines, or --workers N here) share one study."
        ),
    )
    parser.add_argument("search", metavar="SEARCH.toml", help="the search file")
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="an Optuna storage: sqlite:///file.db, a journal file, or a database URL",
    )
    parser.add_argument("--study", metavar="NAME", help="the study's name in the storage")
    parser.add_argument(
        "--trials", type=int_at_least(1), metavar="N", help="this worker's number of trials"
    )
    parser.add_argument(
        "--workers",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="worker processes on this machine (needs --storage)",
    )
    parser.add_argument(
        "--dir", metavar="DIR", help="where trials are written (default: runs/search-<name>)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    search = load_search(args.search)
    search = replace(
        search,
        storage=args.storage or search.storage,
        study_name=args.study or search.study_name,
        trials=args.trials or search.trials,
    )
    directory = Path(args.dir or Path("runs") / f"search-{search.study_name}")
    objective = ExperimentObjective(search, str(directory))
    common: dict[str, Any] = {
        "direction": search.direction,
        "storage": search.storage,
        "study_name": search.study_name if search.storage else None,
    }
    if args.workers > 1:
        if not search.storage:
            raise ArgumentError(
                "--workers needs a storage (--storage sqlite:///study.db) through which they share trials"
            )
        result = tune.run_workers(
            args.workers,
            search.method,
            objective,
            search.space,
            n_trials=search.trials,
            seed=search.seed,
            storage=search.storage,
            study_name=search.study_name,
            direction=search.direction,
        )
    elif search.method == "grid":
        result = tune.grid_search(objective, search.space, **common)
    elif search.method == "random":
        result = tune.random_search(objective, search.space, search.trials, search.seed, **common)
    else:
        result = tune.bayesian_search(objective, search.space, search.trials, search.seed, **common)
    print(result)
    directory.mkdir(parents=True, exist_ok=True)
    result.to_csv(directory / "trials.csv")
    if result.best_trial is not None:
        best = objective.config_for(result.best_params)
        atomic_write_text(directory / "best.toml", to_toml(best))
        print(f"\nbest: {result.best_params} ({search.score} {result.best_score:.4f})")
        print(
            f"its experiment: {directory / 'best.toml'}  (chainrule train {directory / 'best.toml'})"
        )
    return 0
