"""The library's random generator: one seed makes every draw reproducible.

Initialisers, dropout masks, shuffling and augmentation all draw from
``default_generator()`` unless given a generator of their own, so
``chainrule.manual_seed(n)`` fixes them all. The state is a plain dict (JSON-safe), so a
checkpoint can carry it.
"""

from __future__ import annotations

from typing import Any

import numpy

_generator = numpy.random.Generator(numpy.random.PCG64())


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed the library's generator; returns it."""
    from chainrule.errors import ArgumentError

    if isinstance(seed, bool) or not isinstance(seed, int | numpy.integer) or seed < 0:
        raise ArgumentError(f"seed must be a non-negative integer; got {seed!r}")
    _generator.bit_generator.state = numpy.random.PCG64(int(seed)).state
    return _generator


def new_generator(seed: int | None = None) -> numpy.random.Generator:
    """A generator of its own, independent of the library's (for a component's private draws)."""
    return numpy.random.Generator(numpy.random.PCG64(seed))


def default_generator() -> numpy.random.Generator:
    """The generator every random draw of the library uses by default."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's state as a JSON-safe dict."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _generator.bit_generator.state = state
