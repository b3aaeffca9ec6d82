"""``CallbackList``: the callbacks of a run, called together at each hook (Keras' own)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from chainrule.train.callbacks import Callback, Logs

if TYPE_CHECKING:
    from chainrule.train.loop import Trainer


class CallbackList:
    """Calls every callback's hook, in order: the trainer calls each hook once."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_trainer(self, trainer: Trainer) -> None:
        for callback in self.callbacks:
            callback.set_trainer(trainer)

    def on_train_begin(self) -> None:
        for callback in self.callbacks:
            callback.on_train_begin()

    def on_train_end(self) -> None:
        for callback in self.callbacks:
            callback.on_train_end()

    def on_epoch_begin(self, epoch: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int) -> None:
        for callback in self.callbacks:
            callback.on_batch_begin(batch)

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)
