"""Making tensors: from data, filled with a constant, ranges, and random draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.errors import ArgumentError

Shape = int | Sequence[int]


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept zeros(2, 3) and zeros((2, 3)) alike."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ArgumentError(f"shape must be non-negative ints; got {shape!r}")
    return tuple(shape)


def _make(data: Any, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(data, False)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(
    data: TensorLike,
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    device: str | None = None,
    name: str | None = None,
) -> Tensor:
    """A tensor holding a copy of ``data``; ``name`` labels it in drawings of the graph."""
    if isinstance(data, Tensor):
        data = data.data
    array = backend.asarray(data, dtype, device, name="data")
    copy = array.copy() if array is data or getattr(array, "base", None) is not None else array
    out = _make(copy, requires_grad)
    out.name = name
    return out


def from_numpy(array: backend.Array) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (float64 stays float64)."""
    return Tensor._wrap(array, False)


def _module(device: str | None) -> Any:
    """The array namespace of ``device``, or of the default device when None."""
    return backend.array_module(device or backend.default_device())


def _filled(
    shape: tuple[Any, ...],
    value: float,
    dtype: backend.DTypeLike,
    requires_grad: bool,
    device: str | None,
) -> Tensor:
    dtype = backend.as_dtype(dtype) if dtype is not None else backend.default_float_dtype()
    return _make(_module(device).full(_shape(shape), value, dtype=dtype), requires_grad)


def zeros(
    *shape: int | Sequence[int],
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    device: str | None = None,
) -> Tensor:
    return _filled(shape, 0, dtype, requires_grad, device)


def ones(
    *shape: int | Sequence[int],
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    device: str | None = None,
) -> Tensor:
    return _filled(shape, 1, dtype, requires_grad, device)


def full(
    shape: Shape,
    value: float,
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    device: str | None = None,
) -> Tensor:
    return _filled((shape,), value, dtype, requires_grad, device)


def zeros_like(x: Tensor, requires_grad: bool = False) -> Tensor:
    return _make(backend.get_array_module(x.data).zeros_like(x.data), requires_grad)


def ones_like(x: Tensor, requires_grad: bool = False) -> Tensor:
    return _make(backend.get_array_module(x.data).ones_like(x.data), requires_grad)


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: backend.DTypeLike = None,
    device: str | None = None,
) -> Tensor:
    """Evenly spaced values in [start, stop); integers unless a float or ``dtype`` is given."""
    xp = _module(device)
    data = xp.arange(start, stop, step) if stop is not None else xp.arange(start)
    return Tensor(data, dtype)


def linspace(
    start: float, stop: float, num: int, dtype: backend.DTypeLike = None, device: str | None = None
) -> Tensor:
    return Tensor(_module(device).linspace(start, stop, num), dtype)


def eye(n: int, dtype: backend.DTypeLike = None, device: str | None = None) -> Tensor:
    return Tensor(_module(device).eye(n), dtype)


def rand(
    *shape: int | Sequence[int],
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    generator: backend.Generator | None = None,
    device: str | None = None,
) -> Tensor:
    """Uniform draws in [0, 1) from ``generator`` (the library's seeded one by default)."""
    rng = generator or backend.default_generator()
    dtype = backend.as_dtype(dtype) if dtype is not None else backend.default_float_dtype()
    draws = rng.random(_shape(shape), dtype=dtype)  # on the host: one seeded stream
    return _make(backend.to_device(draws, device or backend.default_device()), requires_grad)


def randn(
    *shape: int | Sequence[int],
    dtype: backend.DTypeLike = None,
    requires_grad: bool = False,
    generator: backend.Generator | None = None,
    device: str | None = None,
) -> Tensor:
    """Standard normal draws from ``generator`` (the library's seeded one by default)."""
    rng = generator or backend.default_generator()
    dtype = backend.as_dtype(dtype) if dtype is not None else backend.default_float_dtype()
    draws = rng.standard_normal(_shape(shape), dtype=dtype)  # on the host: one seeded stream
    return _make(backend.to_device(draws, device or backend.default_device()), requires_grad)
