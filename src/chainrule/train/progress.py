"""The progress display of ``fit``: a bar per epoch (tqdm, when installed) or a line per epoch."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

from chainrule.train.callbacks import Callback, Logs


def format_logs(logs: Logs) -> str:
    return "  ".join(
        f"{k} {v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{k} {v:.3e}" for k, v in logs.items()
    )


def shows_bars(stream: TextIO) -> bool:
    """Whether a live bar belongs on ``stream``: a terminal, or a Jupyter kernel's stdout
    (tqdm.auto draws a widget there). A log file or pipe gets plain lines instead."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # a running Jupyter kernel?
    if type(shell).__name__ == "ZMQInteractiveShell" and stream is sys.stdout:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class ProgressBar(Callback):
    """``verbose=1``: a bar over each epoch's batches with the running training loss and
    metrics, then a line with the validation metrics; ``verbose=2``: one line per epoch.
    The bar comes from ``tqdm.auto`` (so it also works in notebooks); without tqdm, or when
    the output is not a terminal (a log file), a line per epoch is printed instead."""

    def __init__(self, epochs: int, verbose: int = 1, stream: Any = None) -> None:
        self.epochs = epochs
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.bar: Any = None
        self._tqdm: Any = None
        if verbose == 1 and not shows_bars(self.stream):
            self.verbose = 2
        elif verbose == 1:
            try:
                from tqdm.auto import tqdm  # optional: tqdm
            except ImportError:
                self.verbose = 2
            else:
                self._tqdm = tqdm

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start = time.perf_counter()
        if self._tqdm is not None:
            self.bar = self._tqdm(
                total=self.trainer.batches_per_epoch,
                initial=self.trainer.batch,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                file=self.stream,
                leave=True,
                # a fixed width that fits: a zero-width pty would otherwise get blank lines
                ncols=min(shutil.get_terminal_size((80, 24)).columns or 80, 100),
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
            )

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % getattr(self.trainer, "log_every", 10) == 0:  # a device's read-back steps
                self.bar.set_postfix_str(format_logs(self.trainer.running_logs()), refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - getattr(self, "_start", time.perf_counter())
        if self.bar is not None:
            logs = logs or {}
            training = {k: v for k, v in logs.items() if not k.startswith("val_")}
            validation = {k: v for k, v in logs.items() if k.startswith("val_")}
            self.bar.set_postfix_str(format_logs(training), refresh=True)
            self.bar.close()
            self.bar = None
            if validation:  # its own line: an 80-column bar has no room left for it
                self.write(f"  {format_logs(validation)}  ({seconds:.1f}s)")
        else:
            print(
                f"epoch {epoch + 1}/{self.epochs}  {format_logs(logs or {})}  ({seconds:.1f}s)",
                file=self.stream,
            )

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def write(self, message: str) -> None:
        if self._tqdm is not None:
            self._tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream)
