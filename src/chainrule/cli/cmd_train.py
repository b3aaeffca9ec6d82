"""``chainrule train EXPERIMENT``: train a named experiment or a TOML file into a run directory."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from chainrule.cli import int_at_least
from chainrule.experiments import default_run_dir, loads, read_experiment, run_experiment
from chainrule.train.strategy import Strategy, get_strategy


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train an experiment and write a run directory",
        description=(
            "Train EXPERIMENT (a name from 'chainrule list' or the path of a TOML file), "
            "test it, and write config, history, checkpoints, metrics and plots to a run "
            "directory."
        ),
    )
    parser.add_argument(
        "experiment", metavar="EXPERIMENT", help="a named experiment or a .toml file"
    )
    parser.add_argument(
        "--epochs", type=int_at_least(1), metavar="N", help="train N epochs instead"
    )
    parser.add_argument("--seed", type=int_at_least(0), metavar="N", help="use seed N instead")
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="read MNIST from DIR (or DIR/mnist) instead of data.path; recorded in the run's "
        "config.toml, so 'chainrule evaluate' finds it again",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--run-dir", metavar="DIR", help="where to write the run (default: runs/<name>-<time>)"
    )
    where.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument(
        "--member",
        type=int_at_least(0),
        metavar="I",
        help="an ensemble: train member I alone into --run-dir (run several side by side, "
        "then --resume the run to test the ensemble)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the result")
    parser.add_argument(
        "--mpi-timeout",
        type=positive_seconds,
        default=300.0,
        metavar="SECONDS",
        help="under mpiexec: how long a process waits for the others before it decides one "
        "has died or hangs and aborts the job (default: 300)",
    )
    return parser


def positive_seconds(text: str) -> float:
    """An argparse type: a positive finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    # MPI starts first: a process that failed before MPI_Init would leave the others
    # waiting there with no deadline; after it, any error aborts the whole job
    strategy = get_strategy("mpi", timeout=args.mpi_timeout)
    with strategy.abort_on_error():
        return _run(args, strategy)


def _run(args: argparse.Namespace, strategy: Strategy) -> int:
    # rank 0 reads the experiment file (the others may not see it) and sends its text
    config = loads(*strategy.on_writer(lambda: read_experiment(args.experiment)))
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    if args.data is not None:
        config = replace(config, data=replace(config.data, path=args.data))
    if args.member is not None and not (args.run_dir or args.resume):
        print(
            "chainrule train: --member needs --run-dir DIR (the directory the members share)",
            file=sys.stderr,
        )
        return 2
    run_dir = args.resume or args.run_dir or default_run_dir(config.name)
    if args.quiet:
        verbose = 0
    else:
        verbose = 1 if sys.stdout.isatty() else 2
    result = run_experiment(
        config,
        run_dir,
        epochs=args.epochs,
        resume=args.resume is not None,
        verbose=verbose,
        member=args.member,
        strategy=strategy,
    )
    if not result.is_writer:
        return 0
    if args.member is not None:
        accuracy = 100 * result.metrics["test_accuracy"]
        print(
            f"{config.name} member {args.member}: test accuracy {accuracy:.2f}%; "
            f"run directory: {result.run_dir}"
        )
        return 0
    test = result.metrics["test"]
    if "accuracy" not in test:  # an autoencoder
        print(
            f"{config.name}: test reconstruction error (MSE) {test['reconstruction_mse']:.5f}; "
            f"run directory: {result.run_dir}"
        )
        return 0
    line = f"{config.name}: test accuracy {100 * test['accuracy']:.2f}%"
    if config.lecture_accuracy is not None:
        line += f" (lecture: {config.lecture_accuracy:.2f}%)"
    print(f"{line}, test loss {test['loss']:.4f}; run directory: {result.run_dir}")
    return 0
