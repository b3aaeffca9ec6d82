"""``chainrule playground``: the lectures' interactive demo, on 127.0.0.1, trained by chainrule."""

from __future__ import annotations

import argparse

from chainrule.cli import int_at_least


def port(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535; got {text!r}")
    return value


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "playground",
        help="the interactive 2-D classification demo in the browser",
        description=(
            "Serve the playground on 127.0.0.1 (only this machine can reach it): pick a data "
            "set, features, layers and regularisation, press play and watch a chainrule "
            "network learn; export it as an experiment file or a script. Ctrl-C stops it. "
            'Needs the playground extra: pip install "chainrule[playground]".'
        ),
    )
    parser.add_argument("--port", type=port, help="listen on this port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument(
        "--max-sessions",
        type=int_at_least(1),
        default=32,
        metavar="N",
        help="at most N sessions (tabs) at once (default: 32)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from chainrule.playground.server import serve  # needs the playground extra

    serve(args.port, open_browser=not args.no_browser, max_sessions=args.max_sessions)
    return 0
