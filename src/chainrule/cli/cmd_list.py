"""``chainrule list``: the named experiments, each with its lecture figure and one line."""

from __future__ import annotations

import argparse

from chainrule.experiments import load_config, named_experiments


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "list",
        help="list the named experiments",
        description="List the named experiments: name, the lecture's test accuracy, description.",
    )


def run(args: argparse.Namespace) -> int:
    configs = [load_config(name) for name in named_experiments()]
    width = max(len(c.name) for c in configs)
    print(f"{'name':{width}s}  {'lecture':>7s}  description")
    for config in configs:
        figure = "-" if config.lecture_accuracy is None else f"{config.lecture_accuracy:.2f}%"
        print(f"{config.name:{width}s}  {figure:>7s}  {config.description}")
    return 0
