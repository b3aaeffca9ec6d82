"""The training doctor: a callback that warns as problems appear, a reader of finished runs.

``fit(..., callbacks=[Doctor()])`` prints one short warning the first time each kind of
finding shows up; ``diagnose_run(run_dir)`` reads a run directory (``history.csv`` and
the ``diagnostics.json`` a Monitor or Doctor wrote) and ``report`` says in plain words
what is wrong, most important first, with the numbers and what to try.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainrule.diagnose import doctor_plots
from chainrule.diagnose.findings import Finding, diagnose, final_errors
from chainrule.diagnose.monitor import DIAGNOSTICS_FILE, GRADIENT_PLOT_FILE, MONITOR_SIZE, Monitor
from chainrule.errors import ArgumentError
from chainrule.train.callbacks import Logs
from chainrule.train.history import History

HISTORY_FILE = "history.csv"
CURVES_PLOT_FILE = "learning_curves.png"


class Doctor(Monitor):
    """A ``Monitor`` that also warns (through ``trainer.log``) the first time each finding
    appears; ``warnings`` keeps (epoch, finding) for every warning given.

    ``human_error`` (a fraction) adds the bias/variance verdict when training ends
    (it needs ``metrics=["accuracy"]`` and validation data).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        every: int = 10,
        monitor_data: Any = None,
        monitor_size: int = MONITOR_SIZE,
        plot: bool = True,
        human_error: float | None = None,
    ) -> None:
        super().__init__(run_dir, every, monitor_data, monitor_size, plot)
        self.human_error = human_error
        self.warnings: list[tuple[int, Finding]] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        super().on_train_begin(logs)
        self.warnings = []
        self._warned: set[str] = set()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        self._examine(epoch, finished=False)

    def on_train_end(self, logs: Logs | None = None) -> None:
        super().on_train_end(logs)
        self._examine(max(self.trainer.epoch - 1, 0), finished=True)  # the last epoch run

    def _examine(self, epoch: int, finished: bool) -> None:
        """Warn about each problem (not 'info' findings) the first time its kind appears.

        The doctor never stops the run it watches: should reading the statistics fail,
        it says so in one line and training goes on."""
        history = self.trainer.history.history
        diagnostics = self.diagnostics()
        try:
            human_error = (
                self.human_error if finished and final_errors(history, diagnostics) else None
            )
            findings = diagnose(history, diagnostics, human_error, finished=finished)
        except Exception as error:  # a diagnosis must never end the training
            self.trainer.log(f"doctor, epoch {epoch}: could not read the statistics ({error!r})")
            return
        for finding in findings:
            if finding.severity == "info" or finding.kind in self._warned:
                continue
            self._warned.add(finding.kind)
            self.warnings.append((epoch, finding))
            self.trainer.log(
                f"doctor, epoch {epoch + 1}: {finding.title} (try: {finding.remedies[0]})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "warned": sorted(self._warned)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._warned = set(state["warned"])


def load_run(
    run_dir: str | os.PathLike[str],
) -> tuple[dict[str, list[float]], dict[str, Any] | None]:
    """(history, diagnostics) of a run directory: ``history.csv`` (else the history inside
    ``diagnostics.json``) and ``diagnostics.json`` when a Monitor wrote one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArgumentError(f"{run_dir} is not a directory (expected a run directory)")
    diagnostics = None
    if (run_dir / DIAGNOSTICS_FILE).is_file():
        diagnostics = json.loads((run_dir / DIAGNOSTICS_FILE).read_text())
    if (run_dir / HISTORY_FILE).is_file():
        history = History.from_csv((run_dir / HISTORY_FILE).read_text()).history
    elif diagnostics is not None:
        history = diagnostics.get("history", {})
    else:
        raise ArgumentError(
            f"{run_dir} has neither {HISTORY_FILE} nor {DIAGNOSTICS_FILE}: nothing to diagnose"
        )
    return history, diagnostics


def diagnose_run(
    run_dir: str | os.PathLike[str], human_error: float | None = None
) -> list[Finding]:
    """The findings about the run in ``run_dir``, most important first."""
    history, diagnostics = load_run(run_dir)
    return diagnose(history, diagnostics, human_error)


def write_plots(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw ``gradient_norms.png`` (when there are diagnostics) and ``learning_curves.png``
    into ``run_dir``; the paths written. A run that already has ``chainrule train``'s
    ``loss.png`` gets no learning_curves.png: the same curves, drawn once."""
    run_dir = Path(run_dir)
    history, diagnostics = load_run(run_dir)
    written = []
    if diagnostics is not None and diagnostics.get("epochs"):
        written.append(doctor_plots.plot_gradient_norms(diagnostics, run_dir / GRADIENT_PLOT_FILE))
    if history.get("loss") and not (run_dir / "loss.png").is_file():
        written.append(doctor_plots.plot_learning_curves(history, run_dir / CURVES_PLOT_FILE))
    return written


def report(findings: Sequence[Finding]) -> str:
    """The findings in plain words, most important first, each with its numbers and remedies."""
    if not findings:
        return "The doctor found nothing wrong: the curves and the gradients look healthy."
    ordered = sorted(findings, key=Finding.importance)
    count = len(ordered)
    lines = [f"The doctor found {count} problem{'s' if count > 1 else ''}, most important first:"]
    for i, finding in enumerate(ordered, 1):
        lines += [
            "",
            f"{i}. [{finding.severity}] {finding.title}",
            f"   Evidence: {finding.evidence}",
            "   Try: " + "; ".join(finding.remedies),
        ]
    return "\n".join(lines)
