"""chainrule's own exceptions: each is also the builtin a caller would expect.

Catch ``chainrule.ChainruleError`` for anything the library raised on purpose, or the
builtin (``ValueError``, ``TypeError``, ``RuntimeError``) as with any Python library.
"""

import difflib
from collections.abc import Iterable


def suggest(word: str, options: Iterable[str]) -> str:
    """' (did you mean 'lr'?)' when ``word`` is close to one of ``options``, else ''."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ChainruleError(Exception):
    """Base of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """An array had a shape an operation or layer cannot take."""


class DTypeError(ChainruleError, TypeError):
    """An array had a dtype an operation cannot take (e.g. grad on integers)."""


class ArgumentError(ChainruleError, ValueError):
    """An argument had an invalid value (a negative learning rate, p outside [0, 1))."""


class ArgumentTypeError(ChainruleError, TypeError):
    """An argument had the wrong type."""


class GraphError(ChainruleError, RuntimeError):
    """The graph is in a state that cannot do what was asked (e.g. backward twice)."""


class GradcheckError(ChainruleError, AssertionError):
    """Analytic and numerical gradients disagree."""


class CheckpointError(ChainruleError, ValueError):
    """A saved file is missing, truncated, corrupted, or not one chainrule wrote."""


class DataError(ChainruleError, ValueError):
    """Training data that cannot be used as given (lengths, labels, NaN, emptiness)."""


class AnomalyError(ChainruleError, RuntimeError):
    """Anomaly mode found an op whose forward or backward made a NaN or an infinity."""


class SampleIndexError(ChainruleError, IndexError, ValueError):
    """A dataset was indexed past its end (an IndexError, so ``for s in ds`` ends as usual)."""
