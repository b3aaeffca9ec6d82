"""Argument checks every package uses: is it an int, a finite number, a positive count.

The one home of argument checking (``backend.checks`` is another concept: deferring the
device-side checks of data). Each check returns the value in its plain Python type or
raises a ``chainrule.errors`` error naming where (``where``, a layer or function), the
argument (``name``), what it got and what was expected. A bool is never a number here,
though Python counts it as one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, TypeGuard

from chainrule.errors import ArgumentError, ArgumentTypeError


def is_int(value: object) -> TypeGuard[int]:  # NumPy integers pass too
    """Whether ``value`` is an integer (Python's or NumPy's), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[float]:  # NumPy numbers pass too
    """Whether ``value`` is a real number (Python's or NumPy's, NaN and inf included), and
    not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (and not a bool)."""
    return is_number(value) and math.isfinite(float(value))


def _prefix(where: str | None) -> str:
    return f"{where}: " if where else ""


def check_int(value: Any, name: str, where: str | None = None, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer >= ``minimum``, else an error naming it."""
    if not is_int(value) or value < minimum:
        raise ArgumentError(
            f"{_prefix(where)}{name} must be an integer >= {minimum}; got {name}={value!r}"
        )
    return int(value)


def check_positive_int(value: Any, name: str, where: str) -> int:
    """``value`` as an int if it is a positive integer, else an error naming it."""
    if not is_int(value) or value <= 0:
        raise ArgumentError(f"{where}: {name} must be a positive integer; got {name}={value!r}")
    return int(value)


def check_number(value: Any, name: str, where: str, finite: bool = True) -> float:
    """``value`` as a float if it is a real number (finite, unless ``finite`` is False;
    never NaN): a non-number is an ``ArgumentTypeError``, NaN or inf an ``ArgumentError``.
    A negative zero comes back as 0.0 (NumPy's samplers refuse -0.0 as a scale)."""
    if not is_number(value):
        raise ArgumentTypeError(f"{where}: {name} must be a number; got {name}={value!r}")
    value = float(value)
    if value != value or (finite and math.isinf(value)):
        raise ArgumentError(
            f"{where}: {name} must be a {'finite ' if finite else ''}number; got {name}={value}"
        )
    return value + 0.0


def check_real(
    value: Any, name: str, where: str, ok: Callable[[float], bool], expected: str
) -> float:
    """``value`` as a float if it is a finite number for which ``ok`` holds, else an
    ``ArgumentError`` saying it must be ``expected`` ("a positive number", "in (0, 1)")."""
    if not is_finite_number(value) or not ok(value):
        raise ArgumentError(f"{where}: {name} must be {expected}; got {name}={value!r}")
    return float(value)
