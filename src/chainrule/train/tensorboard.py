"""``TensorBoard``: a callback that writes a run's curves as TensorBoard event files.

Through tensorboardX (the ``tensorboard`` extra); view with ``tensorboard --logdir LOG_DIR``.
"""

from __future__ import annotations

import os
from typing import Any

from chainrule.backend import to_numpy
from chainrule.errors import ArgumentError
from chainrule.train.callbacks import Callback, Logs


class TensorBoard(Callback):
    """Scalars: every step's training loss (``batch/loss``, by global step); each epoch's
    logs, i.e. loss, metrics, validation loss and metrics and the learning rate
    (``epoch/<key>``, by epoch); and, when a ``diagnose.Monitor`` (the doctor's) is among
    the callbacks, its per-layer statistics, gradient and weight norms, update ratio,
    activation mean and spread, dead and saturated fractions (``layers/<layer>/<stat>``,
    by epoch). With ``histogram_freq=n``, every n-th epoch the values of each parameter
    as a histogram (``weights/<name>``).
    """

    writes_files = True

    def __init__(self, log_dir: str | os.PathLike[str], histogram_freq: int = 0) -> None:
        if (
            isinstance(histogram_freq, bool)
            or not isinstance(histogram_freq, int)
            or histogram_freq < 0
        ):
            raise ArgumentError(
                f"TensorBoard: histogram_freq must be a whole number of epochs >= 0 (0: none); "
                f"got histogram_freq={histogram_freq!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self._writer: Any = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        try:
            from tensorboardX import SummaryWriter  # optional: tensorboardX
        except ImportError as error:
            raise ImportError(
                'the TensorBoard callback needs: pip install "chainrule[tensorboard]"'
            ) from error
        self._writer = SummaryWriter(logdir=self.log_dir)
        self._layer_epochs_written = 0

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if logs and "loss" in logs:
            self._writer.add_scalar("batch/loss", float(logs["loss"]), self.trainer.global_step)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for key, value in (logs or {}).items():
            self._writer.add_scalar(f"epoch/{key}", float(value), epoch)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            for name, p in self.trainer.model.named_parameters():
                self._writer.add_histogram(f"weights/{name}", to_numpy(p.data), epoch)
        self._write_layer_statistics()
        self._writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._writer is not None:
            self._write_layer_statistics()  # a Monitor listed after this callback closes last
            self._writer.close()
            self._writer = None

    def _write_layer_statistics(self) -> None:
        """The epochs a Monitor has closed since last time, one scalar per layer and statistic."""
        for monitor in self._monitors():
            epochs = monitor.epochs
            for i in range(self._layer_epochs_written, len(epochs)):
                for layer, series in monitor.stats.items():
                    for stat, values in series.items():
                        if i < len(values):
                            self._writer.add_scalar(f"layers/{layer}/{stat}", values[i], epochs[i])
            self._layer_epochs_written = len(epochs)

    def _monitors(self) -> list[Any]:
        # NOTE: found by what it records, not by class: diagnose sits above train
        return [
            c
            for c in self.trainer.callbacks
            if c is not self
            and isinstance(getattr(c, "stats", None), dict)
            and hasattr(c, "epochs")
        ][:1]
