"""``History``: what fit returns, per-epoch logs as in Keras (``history.history["val_loss"]``)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from chainrule.errors import ArgumentError


class History:
    """Per-epoch values of every logged quantity: ``history["loss"][epoch]``."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.stop_reason: str | None = None

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record one epoch's logs; keys first seen later are padded with NaN before."""
        for key in logs:
            if key not in self.history:
                self.history[key] = [math.nan] * len(self.epoch)
        for key, values in self.history.items():
            values.append(float(logs.get(key, math.nan)))
        self.epoch.append(epoch)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.history:
            raise KeyError(f"{key!r} was not logged; logged: {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def best_epoch(self, monitor: str = "val_loss", mode: str = "min") -> int:
        """The epoch with the best ``monitor`` value."""
        if mode not in ("min", "max"):
            raise ArgumentError(f"mode must be 'min' or 'max'; got {mode!r}")
        values = self[monitor]
        finite = [(v, e) for v, e in zip(values, self.epoch) if not math.isnan(v)]
        if not finite:
            raise ArgumentError(f"no finite value of {monitor!r} was logged")
        return (min if mode == "min" else max)(finite)[1]

    def to_csv(self) -> str:
        """The history as CSV text: one row per epoch, numbered from 1 as printed."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        keys = list(self.history)
        writer.writerow(["epoch", *keys])
        for i, epoch in enumerate(self.epoch):
            writer.writerow([epoch + 1, *(repr(self.history[k][i]) for k in keys)])
        return buffer.getvalue()

    @classmethod
    def from_csv(cls, text: str) -> History:
        rows = list(csv.reader(io.StringIO(text)))
        history = cls()
        if not rows:
            return history
        keys = rows[0][1:]
        for row in rows[1:]:
            history.append(int(row[0]) - 1, {k: float(v) for k, v in zip(keys, row[1:])})
        return history

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items()} if self.epoch else {}
        return f"History(epochs={len(self.epoch)}, last={last})"
