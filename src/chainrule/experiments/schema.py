"""The checks an experiment file goes through: each names the key, what it got, what is valid.

A check is a function ``(value, path) -> value`` that returns the value (converted, e.g.
an int to a float or an array to a tuple) or raises ``ConfigError`` naming the dotted
``path`` of the key, such as ``optimizer.lr`` or ``model.layers[2].kernel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chainrule.errors import ChainruleError, suggest

Check = Callable[[Any, str], Any]


class ConfigError(ChainruleError, ValueError):
    """An experiment that cannot run as written: a TOML syntax error, an unknown key, a bad value."""


def check_keys(table: Mapping[str, Any], valid: Iterable[str], path: str) -> None:
    """Every key of ``table`` is one of ``valid``; else name the first stranger and the valid ones."""
    valid = list(valid)
    for key in table:
        if key not in valid:
            where = f"{path}.{key}" if path else key
            listing = ", ".join(valid) if valid else "none"
            raise ConfigError(f"{where}: unknown key{suggest(key, valid)}; valid keys: {listing}")


def require_table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a table; got {_show(value)}")
    return value


def fail(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: expected {expected}; got {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table {" + ", ".join(f"{k} = {v!r}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return f"the array {value!r}"
    return f"{value!r}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int) -> Check:
    def check(value: Any, path: str) -> int:
        if not _is_int(value) or value < minimum:
            raise fail(path, f"an integer >= {minimum}", value)
        return value

    return check


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Check:
    """A finite number in the interval given (open or closed at each end); returns a float."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    expected = "a number" + (" " + " and ".join(parts) if parts else "")

    def check(value: Any, path: str) -> float:
        ok = _is_number(value) and value == value and abs(value) != float("inf")
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise fail(path, expected, value)
        return float(value)

    return check


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "true or false", value)
    return value


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "a string", value)
    return value


def choice(*options: str) -> Check:
    def check(value: Any, path: str) -> str:
        if value not in options:
            hint = suggest(value, options) if isinstance(value, str) else ""
            listing = ", ".join(repr(o) for o in options)
            raise ConfigError(f"{path}: expected one of {listing}; got {_show(value)}{hint}")
        return value

    return check


def pair(minimum: int) -> Check:
    """An integer, or an array of two (height, width); arrays become tuples."""

    def check(value: Any, path: str) -> int | tuple[int, int]:
        if _is_int(value) and value >= minimum:
            return value
        if (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(_is_int(v) and v >= minimum for v in value)
        ):
            return tuple(value)
        raise fail(path, f"an integer >= {minimum} or two of them [height, width]", value)

    return check


def either(first: Check, second: Check, expected: str) -> Check:
    """Whichever of two checks accepts the value."""

    def check(value: Any, path: str) -> Any:
        for candidate in (first, second):
            try:
                return candidate(value, path)
            except ConfigError:
                continue
        raise fail(path, expected, value)

    return check


def frozen(value: Any) -> Any:
    """TOML arrays as tuples (all the way down), so a config compares and hashes by value."""
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def parse_fields(
    table: Mapping[str, Any],
    checks: Mapping[str, Check],
    path: str,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Check ``table`` key by key: unknown keys, missing required ones, then each value."""
    check_keys(table, checks, path)
    for key in required:
        if key not in table:
            where = f"{path}.{key}" if path else key
            raise ConfigError(f"{where}: missing; this key is required")
    return {
        key: checks[key](value, f"{path}.{key}" if path else key) for key, value in table.items()
    }


def call_checked(
    factory: Callable[..., Any], args: Mapping[str, Any], path: str, required: Iterable[str] = ()
) -> Any:
    """``factory(**args)``, with a library error blamed on the key that caused it.

    Each argument is first tried alone (with the ``required`` ones, which go first), so
    its error names ``path.key``; then all together (an error of the combination names
    ``path``).
    """
    base = {key: args[key] for key in required}
    for key in [*base, *(k for k in args if k not in base)]:
        try:
            factory(**{**base, key: args[key]})
        except (ChainruleError, TypeError, ValueError) as error:
            raise ConfigError(f"{path}.{key}: {error}") from None
    try:
        return factory(**args)
    except (ChainruleError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: {error}") from None
