"""An ensemble's member from a finished single run: the same training need not run twice.

Member i of an ensemble trains exactly the single run of its config without
``[ensemble]`` and with seed ``seed + i``, weight for weight (tested), so a finished run
of that config (a lecture table's single row, say) can stand for the member.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from chainrule.experiments.config import ExperimentConfig
from chainrule.experiments.parse import load_config
from chainrule.experiments.report import to_json
from chainrule.experiments.runner import RunDirectoryError, _open_run_dir, check_member
from chainrule.train.serialization import atomic_write_text

MEMBER_FILES = ("history.csv", "model.npz")  # beside checkpoints/ and member.json


def adopt_member(
    config: ExperimentConfig,
    run_dir: str | os.PathLike[str],
    member: int,
    source: str | os.PathLike[str],
) -> Path:
    """Let the finished single run in ``source`` stand for member ``member`` of the
    ensemble ``config`` whose run directory is ``run_dir``; returns the member's directory.

    ``source`` must hold a finished run (its metrics.json written) of ``config`` without
    ``[ensemble]`` and with seed ``config.seed + member``; only the name, description,
    reference, lecture accuracy and data path may differ. Its checkpoints, history and
    weights are copied into ``run_dir/members/<member>`` with its record (member.json:
    test accuracy, training time), as if the member had trained there; a later
    ``run_experiment(config, run_dir, resume=True)`` tests the ensemble with it.
    """
    run_dir, source = Path(run_dir), Path(source)
    check_member(config, member, "adopt member")
    if not (source / "metrics.json").is_file() or not (source / "config.toml").is_file():
        raise RunDirectoryError(
            f"{source}: no finished run to adopt (a run directory with config.toml and "
            "metrics.json, written when a run has been tested)"
        )
    stored = load_config(source / "config.toml")
    expected = replace(
        config,
        ensemble=None,
        seed=config.seed + member,
        name=stored.name,
        description=stored.description,
        reference=stored.reference,
        lecture_accuracy=stored.lecture_accuracy,
        data=replace(config.data, path=stored.data.path),
    )
    if stored != expected:
        raise RunDirectoryError(
            f"{source} holds a run of {stored.name!r} (seed {stored.seed}) that is not member "
            f"{member} of {config.name!r}: that is {config.name!r} without [ensemble] and with "
            f"seed {config.seed + member}, all else the same"
        )
    metrics = json.loads((source / "metrics.json").read_text())
    target = run_dir / "members" / str(member)
    if target.exists() and any(target.iterdir()):
        raise RunDirectoryError(f"{target} already holds member {member}; remove it first")
    if not (run_dir / "config.toml").is_file():  # members trained here already wrote it
        _open_run_dir(run_dir, config, resume=True)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "checkpoints", target / "checkpoints")
    for name in MEMBER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    atomic_write_text(target / "member.json", to_json(metrics["members"][0]) + "\n")
    return target
