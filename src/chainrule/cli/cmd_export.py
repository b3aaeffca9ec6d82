"""``chainrule export RUN_DIR --format onnx``: a run's model as a file other runtimes load."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np  # only for dtypes (np.dtype): no arrays are made here

from chainrule import load, onnx, zeros
from chainrule.experiments import RunDirectoryError, load_config

FORMATS = ("onnx",)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export the model of a run directory (ONNX)",
        description=(
            "Write RUN_DIR/model.npz, the model 'chainrule train' reported, as RUN_DIR/model.onnx "
            "(or OUTPUT), in eval mode, for the input shape of the run's data. For an "
            "ensemble, export each member: RUN_DIR/members/0, ... Needs the onnx extra."
        ),
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a directory written by 'chainrule train'"
    )
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="default: onnx")
    parser.add_argument("--output", "-o", metavar="OUTPUT", help="default: RUN_DIR/model.<format>")
    return parser


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    model_path = run_dir / "model.npz"
    config_path = _config_of(run_dir)
    if not model_path.is_file():
        hint = (
            "; an ensemble: export a member, e.g. " + str(run_dir / "members" / "0")
            if (run_dir / "members").is_dir()
            else ""
        )
        raise RunDirectoryError(f"{run_dir}: no model.npz to export{hint}")
    config = load_config(config_path)
    model = load(model_path)
    output = Path(args.output) if args.output else run_dir / f"model.{args.format}"
    example = zeros((1, *config.data.input_shape), dtype=_dtype(model))
    onnx.export(model, example, output)
    print(f"wrote {output}: input (N, {', '.join(map(str, config.data.input_shape))})")
    return 0


def _config_of(run_dir: Path) -> Path:
    """The run's config.toml: in RUN_DIR, or two levels up for an ensemble's member."""
    for candidate in (run_dir / "config.toml", run_dir.parent.parent / "config.toml"):
        if candidate.is_file() and (
            candidate.parent == run_dir or run_dir.parent.name == "members"
        ):
            return candidate
    raise RunDirectoryError(f"{run_dir}: not a run directory (it has no config.toml)")


def _dtype(model: Any) -> np.dtype:
    return next((p.dtype for p in model.parameters()), np.dtype("float32"))
