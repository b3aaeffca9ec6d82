"""``SearchResult``: the trials of a search as a table, best first, with the winner."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator
from typing import Any

from chainrule.errors import ArgumentError, ChainruleError
from chainrule.train.serialization import atomic_write_text
from chainrule.tune.trial import Trial

DIRECTIONS = ("maximize", "minimize")


class SearchError(ChainruleError, RuntimeError):
    """A search has no completed trial to report (every trial failed, or none ran)."""


class StorageError(ChainruleError, RuntimeError):
    """The storage of a study could not be opened, created or written (one line says why)."""


def check_direction(direction: object) -> str:
    if direction not in DIRECTIONS:
        raise ArgumentError(f"direction must be 'maximize' or 'minimize'; got {direction!r}")
    return direction


class SearchResult:
    """The trials of a search (``trials``, in the order they started) and the best one."""

    def __init__(
        self, trials: list[Trial], direction: str, method: str, study_name: str | None = None
    ) -> None:
        self.trials = trials
        self.direction = check_direction(direction)
        self.method = method
        self.study_name = study_name

    @property
    def completed(self) -> list[Trial]:
        return [t for t in self.trials if t.state == "complete"]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.state == "failed"]

    def ranked(self) -> list[Trial]:
        """Completed trials best first (ties by trial number), then the others by number."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        best_first = sorted(self.completed, key=lambda t: (sign * t.score, t.number))
        return best_first + [t for t in self.trials if t.state != "complete"]

    @property
    def best_trial(self) -> Trial:
        if not self.completed:
            raise SearchError(f"{self._summary()}: no trial completed, so there is no best")
        return self.ranked()[0]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_score(self) -> float:
        return self.best_trial.score

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    # ---------------------------------------------------------------- tables
    def _columns(self) -> tuple[list[str], list[str]]:
        params: dict[str, None] = {}
        extras: dict[str, None] = {}
        for t in self.trials:
            params.update(dict.fromkeys(t.params))
            extras.update(dict.fromkeys(t.extras))
        return list(params), list(extras)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The trials as CSV text, best first; also written (atomically) to ``path`` if given."""
        params, extras = self._columns()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["number", "state", "score", *params, *extras, "duration", "error"])
        for t in self.ranked():
            writer.writerow(
                [
                    t.number,
                    t.state,
                    repr(t.score),
                    *(_csv_value(t.params.get(p, "")) for p in params),
                    *(_csv_value(t.extras.get(e, "")) for e in extras),
                    repr(t.duration),
                    t.error or "",
                ]
            )
        text = buffer.getvalue()
        if path is not None:
            atomic_write_text(path, text)
        return text

    def _summary(self) -> str:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.state] = counts.get(t.state, 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in counts.items())
        name = f" {self.study_name!r}" if self.study_name else ""
        return f"{self.method} search{name} ({self.direction} score): {len(self.trials)} trials" + (
            f" ({states})" if states else ""
        )

    def __str__(self) -> str:
        params, extras = self._columns()
        header = ["rank", "trial", "score", *params, *extras, "time", "state"]
        rows = []
        for rank, t in enumerate(self.ranked(), start=1):
            complete = t.state == "complete"
            state = t.state if t.error is None else f"{t.state}: {_shorten(t.error, 60)}"
            rows.append(
                [
                    str(rank) if complete else "-",
                    str(t.number),
                    _format(t.score) if complete else "-",
                    *(_format(t.params[p]) if p in t.params else "" for p in params),
                    *(_format(t.extras[e]) if e in t.extras else "" for e in extras),
                    "-" if math.isnan(t.duration) else f"{t.duration:.2f}s",
                    state,
                ]
            )
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]
        ]
        title = self._summary()
        if self.completed:
            title += f"; best score {_format(self.best_score)}"
        return "\n".join([title, *lines])

    def __repr__(self) -> str:
        best = f", best_score={self.best_score:.6g}" if self.completed else ""
        return f"SearchResult({self.method}, {len(self.trials)} trials{best})"


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _csv_value(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
