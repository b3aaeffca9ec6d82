"""The library's random generator: one seed makes every draw reproducible.

Initialisers, dropout masks, shuffling and augmentation all draw from
``default_generator()`` unless given a generator of their own, so
``chainrule.manual_seed(n)`` fixes them all. The state is a plain dict (JSON-safe), so a
checkpoint can carry it.

On a GPU, dropout draws its masks where the data is, from ``device_generator``: one
CuPy generator per GPU, created on first use from one seed drawn from the library's
(host) generator and kept until ``manual_seed`` or ``set_rng_state`` drops it. So a
seeded GPU run is reproducible on the GPU, but its masks are not the CPU run's (a
different generator), and a run resumed from a checkpoint draws a fresh device seed
from the restored host state: it continues reproducibly, not bit for bit as the
uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Iterator, Sequence
from typing import Any

import numpy

from chainrule.checks import is_int
from chainrule.errors import ArgumentError

Generator = numpy.random.Generator  # what ``generator=`` arguments take: a NumPy generator

_generator = numpy.random.Generator(numpy.random.PCG64())
_device_generators: dict[int, Any] = {}  # GPU number -> its CuPy generator


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed the library's generator; returns it."""
    if not is_int(seed) or seed < 0:
        raise ArgumentError(f"seed must be a non-negative integer; got {seed!r}")
    _generator.bit_generator.state = numpy.random.PCG64(int(seed)).state
    _device_generators.clear()
    return _generator


def new_generator(seed: int | Sequence[int] | None = None) -> numpy.random.Generator:
    """A generator of its own, independent of the library's (for a component's private draws)."""
    return numpy.random.Generator(numpy.random.PCG64(seed))


def default_generator() -> numpy.random.Generator:
    """The generator every random draw of the library uses by default."""
    return _generator


def random_bits(generator: numpy.random.Generator, shape: tuple[int, ...]) -> numpy.ndarray:
    """32 uniform random bits per element (uint32, ``shape``): the bit generator's raw 64-bit
    outputs, two elements each. For masks: 2.3x the speed of ``random(dtype=float32)``,
    which turns one 32-bit half at a time into a float."""
    size = 1
    for n in shape:
        size *= n
    raw = generator.bit_generator.random_raw((size + 1) // 2)
    return raw.view(numpy.uint32)[:size].reshape(shape)


def bits_threshold(p: float) -> int:
    """The uint32 t with P(bits >= t) = 1 - p for uniform 32-bit ``bits`` (to 2**-32)."""
    return min(math.ceil(p * 2**32), 2**32 - 1)


def get_rng_state() -> dict[str, Any]:
    """The generator's state as a JSON-safe dict."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _generator.bit_generator.state = state
    _device_generators.clear()


@contextlib.contextmanager
def fork_rng(seed: int | None = None) -> Iterator[numpy.random.Generator]:
    """Draws inside the block leave the library's generator as they found it.

    On exit the host state is put back, and the GPU generators that were in use, so code
    that reseeds to build something reproducibly (loading a finished run's models) does
    not change the random stream of the code around it. ``seed``: reseed inside the
    block (the GPU generators inside are then new ones; without a seed, a GPU draw in
    the block advances the generator it is put back as). As ``torch.random.fork_rng``.
    """
    state = _generator.bit_generator.state
    devices = dict(_device_generators)
    try:
        if seed is not None:
            manual_seed(seed)
        yield _generator
    finally:
        _generator.bit_generator.state = state
        _device_generators.clear()
        _device_generators.update(devices)


def device_generator(xp: types.ModuleType, gpu: int = 0) -> Any:
    """The library's generator on GPU ``gpu`` (``xp`` is CuPy): made on first use, with
    ``xp.random.default_rng``, from one seed drawn from ``default_generator()``."""
    generator = _device_generators.get(gpu)
    if generator is None:
        seed = int(_generator.integers(2**63))
        with xp.cuda.Device(gpu):
            generator = _device_generators[gpu] = xp.random.default_rng(seed)
    return generator
