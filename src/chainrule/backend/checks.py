"""Checks of device data that need not stop the device every step.

A check such as "every class target lies in [0, C)" reads one flag back from where the
data is: on a GPU that copy waits for the device. Inside ``defer_checks(pending)`` a
device flag is not read: it is appended to ``pending`` with the error it stands for, and
whoever deferred reads all the flags later in one copy (the training loop does, with its
running statistics) and raises the first error found. Host flags are always read at once.

Not the home of argument checks (``chainrule.checks`` is): these defer checks of device data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy

from chainrule.backend.arrays import Array

Pending = list[tuple[Array, Callable[[], Exception]]]

_deferred: Pending | None = None


@contextmanager
def defer_checks(pending: Pending) -> Iterator[Pending]:
    """Within the block, device flags passed to ``flagged`` go to ``pending`` unread."""
    global _deferred
    previous, _deferred = _deferred, pending
    try:
        yield pending
    finally:
        _deferred = previous


def flagged(flag: Array | bool, error: Callable[[], Exception]) -> bool:
    """``bool(flag)``; but a device flag inside ``defer_checks`` is recorded and counts as
    False, so the caller goes on and ``error()`` is raised when the flag is read."""
    if _deferred is not None and not isinstance(flag, numpy.ndarray | numpy.generic | bool):
        _deferred.append((flag, error))
        return False
    return bool(flag)


def raise_flagged(pending: Pending, values: Sequence[object]) -> None:
    """Raise the error of the first of ``pending`` whose read-back flag (in ``values``) is
    set; then empty ``pending``."""
    checks = list(pending)
    pending.clear()
    for (_, error), value in zip(checks, values):
        if value:
            raise error()
