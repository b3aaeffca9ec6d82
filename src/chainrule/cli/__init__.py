"""The ``chainrule`` command: ``chainrule list``, ``chainrule train``, ``chainrule evaluate``.

Each subcommand is a module of this package with ``add_parser(subparsers)``, which adds
and returns its ``argparse`` parser, and ``run(args) -> int``, the handler. A new
subcommand is a new module plus its line in ``COMMANDS``. Every subcommand takes
``--debug``; without it, an error prints one message to stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from chainrule import __version__
from chainrule.errors import ChainruleError

COMMANDS = (
    "chainrule.cli.cmd_list",
    "chainrule.cli.cmd_train",
    "chainrule.cli.cmd_evaluate",
    "chainrule.cli.cmd_doctor",
    "chainrule.cli.cmd_tune",
    "chainrule.cli.cmd_playground",
    "chainrule.cli.cmd_export",
)

# What a user can cause (a bad file, missing data, an unwritable directory, a missing
# extra), as opposed to a bug, which keeps its traceback.
USER_ERRORS = (ChainruleError, OSError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Train and evaluate the named experiments of the course, or your own TOML files.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(name)
        command = module.add_parser(subparsers)
        command.add_argument(
            "--debug", action="store_true", help="on an error, show the full traceback"
        )
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # whoever read our output has gone (``chainrule evaluate RUN | head``): stop
        # quietly, and keep Python from complaining as it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("chainrule: interrupted", file=sys.stderr)
        return 130


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}")
        return value

    return parse
