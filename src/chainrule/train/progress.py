"""The progress display of ``fit``: a bar per epoch (tqdm, when installed) or a line per epoch."""

from __future__ import annotations

import sys
import time
from typing import Any

from chainrule.train.callbacks import Callback, Logs


def format_logs(logs: Logs) -> str:
    return "  ".join(
        f"{k} {v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{k} {v:.3e}" for k, v in logs.items()
    )


class ProgressBar(Callback):
    """``verbose=1``: a bar over each epoch's batches with the running loss and metrics;
    ``verbose=2``: one line per epoch. The bar comes from ``tqdm.auto`` (so it also works
    in notebooks); without tqdm a line per epoch is printed instead."""

    def __init__(self, epochs: int, verbose: int = 1, stream: Any = None) -> None:
        self.epochs = epochs
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.bar: Any = None
        self._tqdm: Any = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
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
                dynamic_ncols=True,
            )

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % getattr(self.trainer, "log_every", 10) == 0:  # a device's read-back steps
                self.bar.set_postfix_str(format_logs(self.trainer.running_logs()), refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - getattr(self, "_start", time.perf_counter())
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self.bar.close()
            self.bar = None
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
