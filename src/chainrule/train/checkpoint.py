"""Checkpoints of a whole training run, so a killed run resumes exactly where it was.

A checkpoint holds the model, the optimiser, every callback's state (early-stopping
counters, schedules), the history, the epoch and step, the current epoch's sample
order, the running epoch totals, whether the run has decided to stop, the seconds trained
so far (``Trainer.training_seconds``: every leg's), and the state of every random
generator (the library's, the loader's, the transforms' and the layers').
Files are written atomically with a checksum; on resume a damaged file is skipped, with
a message, for the newest good one before it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainrule.checks import is_int
from chainrule.errors import ArgumentError, ChainruleError, CheckpointError
from chainrule.train.serialization import load, save

_NAME = re.compile(r"^step-(\d{9})\.npz$")


class Checkpointer:
    """Keeps the last ``keep`` run checkpoints in ``directory`` as ``step-000001234.npz``."""

    def __init__(
        self, directory: str | os.PathLike[str], every_steps: int | None = None, keep: int = 3
    ) -> None:
        if every_steps is not None and (not is_int(every_steps) or every_steps < 1):
            raise ArgumentError(
                f"checkpoint_every must be a positive number of steps; got {every_steps!r}"
            )
        if keep < 1:
            raise ArgumentError(f"keep must be at least 1; got {keep}")
        self.directory = Path(directory)
        self.every_steps = every_steps
        self.keep = keep

    def paths(self) -> list[Path]:
        """Existing checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _NAME.match(p.name))

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write the checkpoint of ``step``; drop the oldest beyond ``keep``, and any
        temporary file a killed write left behind."""
        path = self.directory / f"step-{step:09d}.npz"
        save(state, path)
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        for stale in self.directory.glob(".step-*.npz.*.tmp"):
            stale.unlink(missing_ok=True)
        return path

    def load_latest(self, check: Callable[[Any], None] | None = None) -> tuple[dict[str, Any], str]:
        """The newest checkpoint that loads, verifies and (``check``) fits the run; damaged
        or misfitting ones are skipped, and named on stderr when an older one is used (or
        all in the error when none is usable)."""
        candidates = self.paths()
        if not candidates:
            raise CheckpointError(f"nothing to resume: no checkpoint in {self.directory}")
        problems = []
        for path in reversed(candidates):
            try:
                state = load(path)
            except CheckpointError as error:
                problems.append(str(error))
                continue
            if check is not None:
                try:
                    check(state)
                except (ChainruleError, KeyError, TypeError, ValueError) as error:
                    problems.append(
                        f"{path}: its checksum holds but it does not fit this run: {error}"
                    )
                    continue
            for problem in problems:
                print(
                    f"chainrule: {problem}; falling back to the previous checkpoint",
                    file=sys.stderr,
                )
            return state, str(path)
        raise CheckpointError(f"no usable checkpoint in {self.directory}: " + "; ".join(problems))
