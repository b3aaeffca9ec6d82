"""One trial: call the objective with a dict of params and record what came back.

An objective is ``objective(params: dict) -> float`` (the score) or ``-> dict`` with a
``"score"`` and any extra values worth keeping (``{"score": val_acc, "epochs": 12}``).
An exception or a NaN score fails the trial; the search goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.checks import is_number

Objective = Callable[[dict[str, Any]], Any]


@dataclass
class Trial:
    """One evaluation of the objective: the params it got and what came back."""

    number: int
    params: dict[str, Any]
    score: float  # NaN unless the trial completed
    state: str  # "complete", "failed", or for a stored study also "running", "pruned", "waiting"
    duration: float  # seconds; NaN while running
    extras: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # "ValueError: ..." for a failed trial


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so extras print and store cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def call_objective(
    objective: Objective, params: dict[str, Any]
) -> tuple[float, dict[str, Any], str | None]:
    """(score, extras, error): error is None when the trial completed."""
    try:
        outcome = objective(dict(params))
    except Exception as error:  # a failing trial is data, not the end of the study
        return math.nan, {}, f"{type(error).__name__}: {error}"
    extras: dict[str, Any] = {}
    if isinstance(outcome, Mapping):
        if "score" not in outcome:
            return (
                math.nan,
                {},
                (f"the objective returned a dict without a 'score' (keys: {sorted(outcome)})"),
            )
        extras = {str(k): _plain(v) for k, v in outcome.items() if k != "score"}
        outcome = outcome["score"]
    outcome = _plain(outcome)
    if not is_number(outcome):
        return (
            math.nan,
            extras,
            (
                f"the objective returned {outcome!r}; expected a number (the score) "
                "or a dict with a 'score'"
            ),
        )
    if math.isnan(outcome):
        return math.nan, extras, "the score is NaN"
    return float(outcome), extras, None


def run_trial(objective: Objective, number: int, params: dict[str, Any]) -> Trial:
    start = time.perf_counter()
    score, extras, error = call_objective(objective, params)
    return Trial(
        number=number,
        params=dict(params),
        score=score,
        state="complete" if error is None else "failed",
        duration=time.perf_counter() - start,
        extras=extras,
        error=error,
    )


def describe(trial: Trial) -> str:
    """One line for a finished trial, as a search prints it."""
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    if trial.state == "complete":
        outcome = f"score {trial.score:.6g}"
    else:
        outcome = f"{trial.state}: {trial.error}"
    return f"trial {trial.number}: {outcome}  [{params}]  ({trial.duration:.2f}s)"


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
