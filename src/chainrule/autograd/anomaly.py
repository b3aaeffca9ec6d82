"""Anomaly mode: name the first op whose forward or backward made a NaN or an infinity.

``with detect_anomaly():`` checks every op's output as it is computed and every gradient
as backward computes it, and raises ``AnomalyError`` at the first non-finite value:
the op (its class name), forward or backward, the shapes, and the line of user code
that called the op. Off (the default), an op pays one check of a module global.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from chainrule.backend import Array, get_array_module
from chainrule.errors import AnomalyError

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor

F = TypeVar("F", bound=Callable[..., Any])

# Read by Function.apply and the engine on every op, so it is a plain module global.
_enabled = False

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def is_anomaly_enabled() -> bool:
    return _enabled


def set_detect_anomaly(mode: bool) -> None:
    global _enabled
    _enabled = bool(mode)


class detect_anomaly:
    """``with detect_anomaly():`` (or ``@detect_anomaly()``) raises ``AnomalyError`` at the
    first op that produces a NaN or an infinity, in forward or in backward.

    Slow (every op's output is scanned): for finding a bug, not for training runs.
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        global _enabled
        self._previous = _enabled
        _enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global _enabled
        _enabled = self._previous

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def check_forward(ctx: Any, inputs: Sequence[Tensor], output: Array) -> None:
    """Raise if ``output`` of the op ``ctx`` holds NaN or inf; remember where the op was called."""
    ctx.called_at = _caller()
    problem = _non_finite(output)
    if problem is None:
        return
    raise AnomalyError(
        f"{type(ctx).__name__} produced {problem} in forward: output of shape "
        f"{tuple(output.shape)} from inputs of shapes {_shapes(inputs)}"
        f"{_blame([t.data for t in inputs], 'input')}; called at {ctx.called_at}"
    )


def check_backward(ctx: Any, grad_out: Array, input_grads: Sequence[Any]) -> None:
    """Raise if a gradient that the op ``ctx``'s backward returned holds NaN or inf."""
    for index, (needs, grad) in enumerate(zip(ctx.needs_input_grad, input_grads)):
        problem = _non_finite(grad) if needs and grad is not None else None
        if problem is None:
            continue
        upstream = _non_finite(grad_out)
        cause = (
            f" (the incoming gradient already held {upstream})"
            if upstream
            else " (the incoming gradient was finite)"
        )
        raise AnomalyError(
            f"{ctx.name} produced {problem} in backward: the gradient of input {index} "
            f"(shape {tuple(grad.shape)}); inputs of shapes {_shapes(ctx.inputs)}{cause}; "
            f"the op was called at {getattr(ctx, 'called_at', 'an unknown place')}"
        )


def _non_finite(array: Any) -> str | None:
    """'3 NaN and 1 inf among 12 values', or None when every value is finite (or not float)."""
    if array.dtype.kind not in "fc":
        return None
    xp = get_array_module(array)
    if xp.isfinite(array).all():
        return None
    nan = int(xp.isnan(array).sum())
    inf = int(array.size - nan - xp.isfinite(array).sum())
    counts = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "inf")) if n)
    return f"{counts} among {array.size} values"


def _blame(arrays: Sequence[Any], what: str) -> str:
    received = [i for i, a in enumerate(arrays) if _non_finite(a)]
    if not received:
        return f" (every {what} was finite)"
    return f" ({what} {', '.join(map(str, received))} already held NaN or inf)"


def _shapes(tensors: Sequence[Any]) -> str:
    return ", ".join(str(tuple(t.shape)) for t in tensors) or "()"


def _caller() -> str:
    """'file.py:42 in fn', the innermost frame outside chainrule (the user's line)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
