"""Search spaces: a dict of name -> distribution, list of values, or fixed value.

``{"optimizer.lr": LogUniform(1e-4, 1e-1), "hidden": Choice([32, 64]), "epochs": 10}``:
names are free-form strings (dotted paths welcome); the objective receives one dict with
a value for every name. A plain ``list`` is the grid of values for grid search and a
``Choice`` for the other searches; anything else (a number, a string, a tuple) is fixed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.checks import is_int, is_number
from chainrule.errors import ArgumentError, ArgumentTypeError


def _real(value: object, owner: str, name: str) -> float:
    if not is_number(value):
        raise ArgumentTypeError(f"{owner}: {name} must be a number; got {value!r}")
    if not math.isfinite(value):
        raise ArgumentError(f"{owner}: {name} must be finite; got {name}={value}")
    return float(value)


class Distribution:
    """Where a hyperparameter's values come from; ``sample(rng)`` draws one."""

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError


class Uniform(Distribution):
    """A float drawn uniformly from [low, high]."""

    def __init__(self, low: float, high: float) -> None:
        self.low = _real(low, "Uniform", "low")
        self.high = _real(high, "Uniform", "high")
        if not self.low < self.high:
            raise ArgumentError(f"Uniform(low={low}, high={high}): low must be less than high")

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def __repr__(self) -> str:
        return f"Uniform({self.low:g}, {self.high:g})"


class LogUniform(Distribution):
    """A float whose logarithm is uniform on [log low, log high] (for lr, weight_decay)."""

    def __init__(self, low: float, high: float) -> None:
        self.low = _real(low, "LogUniform", "low")
        self.high = _real(high, "LogUniform", "high")
        if not self.low > 0:
            raise ArgumentError(
                f"LogUniform(low={low}, high={high}): low must be positive (a log scale "
                "has no zero or negative values)"
            )
        if not self.low < self.high:
            raise ArgumentError(f"LogUniform(low={low}, high={high}): low must be less than high")

    def sample(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(value, self.low), self.high)  # exp(log(x)) may round past a bound

    def __repr__(self) -> str:
        return f"LogUniform({self.low:g}, {self.high:g})"


class IntUniform(Distribution):
    """An integer in [low, high], both included; ``log=True`` spreads it on a log scale."""

    def __init__(self, low: int, high: int, log: bool = False) -> None:
        for name, value in (("low", low), ("high", high)):
            if not is_int(value):
                raise ArgumentTypeError(f"IntUniform: {name} must be an integer; got {value!r}")
        self.low, self.high, self.log = int(low), int(high), bool(log)
        if not self.low < self.high:
            raise ArgumentError(f"IntUniform(low={low}, high={high}): low must be less than high")
        if self.log and self.low < 1:
            raise ArgumentError(
                f"IntUniform(low={low}, high={high}, log=True): low must be at least 1 on a log scale"
            )

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        # Each integer k owns [k - 0.5, k + 0.5) on the log-uniform axis, as in Optuna.
        value = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
        return min(max(round(value), self.low), self.high)

    def values(self) -> list[int]:
        """Every integer of the range, for grid search."""
        return list(range(self.low, self.high + 1))

    def __repr__(self) -> str:
        log = ", log=True" if self.log else ""
        return f"IntUniform({self.low}, {self.high}{log})"


class Choice(Distribution):
    """One of the given options, each equally likely."""

    def __init__(self, options: Sequence[Any]) -> None:
        if isinstance(options, str | bytes) or not isinstance(options, Sequence):
            raise ArgumentTypeError(
                f"Choice needs a list of options; got {type(options).__name__} {options!r}"
            )
        if len(options) == 0:
            raise ArgumentError("Choice([]): needs at least one option; got none")
        self.options = list(options)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def values(self) -> list[Any]:
        return list(self.options)

    def __repr__(self) -> str:
        return f"Choice({self.options!r})"


def check_space(space: object) -> dict[str, Any]:
    """The space as a dict, with lists turned into ``Choice`` and every name checked."""
    if not isinstance(space, Mapping):
        raise ArgumentTypeError(
            f"a search space must be a dict of name -> distribution; got {type(space).__name__}"
        )
    checked: dict[str, Any] = {}
    for name, entry in space.items():
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"search-space names must be non-empty strings; got {name!r}")
        if isinstance(entry, list):
            if not entry:
                raise ArgumentError(f"search space: {name!r} is an empty list of values")
            entry = Choice(entry)
        checked[name] = entry
    return checked


def searched(space: Mapping[str, Any]) -> dict[str, Distribution]:
    """The entries of a checked space that vary."""
    return {name: d for name, d in space.items() if isinstance(d, Distribution)}


def fixed(space: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a checked space that do not vary."""
    return {name: v for name, v in space.items() if not isinstance(v, Distribution)}


def sample(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One point of the space: every distribution drawn once, in the space's order."""
    space = check_space(space)
    return {
        name: entry.sample(rng) if isinstance(entry, Distribution) else entry
        for name, entry in space.items()
    }


def grid_values(space: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The values grid search tries for each name (a fixed value is a grid of one)."""
    values: dict[str, list[Any]] = {}
    for name, entry in check_space(space).items():
        if isinstance(entry, Uniform | LogUniform):
            raise ArgumentError(
                f"grid search needs a finite set of values, but {name!r} is {entry!r}; "
                "give a list of values or a Choice"
            )
        values[name] = entry.values() if isinstance(entry, Distribution) else [entry]
    return values


def grid(space: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid, once, the last name varying fastest."""
    values = grid_values(space)
    for combination in itertools.product(*values.values()):
        yield dict(zip(values, combination))
