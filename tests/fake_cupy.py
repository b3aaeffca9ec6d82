"""A stand-in for CuPy that behaves like a device with its own memory, for machines without a GPU.

``DeviceArray`` wraps a NumPy array the way a ``cupy.ndarray`` holds device memory:
NumPy functions and operators run "on the device" (``__array_ufunc__`` /
``__array_function__``, as CuPy implements them), but an implicit conversion to NumPy
(``numpy.asarray(a)``, mixing a host array into a device operation) raises TypeError as
CuPy does, and is counted. Every explicit crossing is counted too: host to device
(``cupy.asarray(host)``, assigning host data into a device array) and device to host
(``.get()``, and ``float()``/``int()``/``bool()``/``.item()``, which synchronise).

``install(monkeypatch)`` puts it where chainrule looks for CuPy (``sys.modules`` and the
backend's cached module) and returns the ``Counter``.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)


@dataclass
class Counter:
    to_device: int = 0
    to_device_scalars: int = 0  # of to_device, those of a single number (a 0-d array)
    to_host: int = 0
    implicit: int = 0  # refused conversions: each one a bug on a real GPU

    def reset(self) -> None:
        self.to_device = self.to_device_scalars = self.to_host = self.implicit = 0


COUNTER = Counter()


def _refuse() -> None:
    COUNTER.implicit += 1
    raise TypeError(IMPLICIT)


def unwrap(value: Any) -> Any:
    """Device arrays to their NumPy contents for the computation; host arrays refused."""
    if isinstance(value, DeviceArray):
        return value._a
    if isinstance(value, np.ndarray) and value.ndim > 0:
        _refuse()  # CuPy will not compute with host memory
    if isinstance(value, list | tuple):
        return type(value)(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def wrap(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


class DeviceArray(NDArrayOperatorsMixin):
    """Device memory: computes like NumPy, refuses to become NumPy without ``.get()``."""

    __slots__ = ("_a",)

    def __init__(self, array: np.ndarray) -> None:
        self._a = array

    # ---- the crossings
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        _refuse()

    def get(self) -> np.ndarray:
        COUNTER.to_host += 1
        return self._a.copy()

    def item(self) -> Any:
        COUNTER.to_host += 1
        return self._a.item()

    def __float__(self) -> float:
        COUNTER.to_host += 1
        return float(self._a)

    def __int__(self) -> int:
        COUNTER.to_host += 1
        return int(self._a)

    def __bool__(self) -> bool:
        COUNTER.to_host += 1
        return bool(self._a)

    def tolist(self) -> Any:
        COUNTER.to_host += 1
        return self._a.tolist()

    # ---- computing on the device
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            kwargs["out"] = tuple(unwrap(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*unwrap(inputs), **kwargs)
        return wrap(_as_array(result))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return wrap(_as_array(func(*unwrap(args), **unwrap(kwargs))))

    def __getitem__(self, key: Any) -> Any:
        return wrap(_as_array(self._a[self._wrap_around(_index(key))]))

    def _wrap_around(self, key: Any) -> Any:
        """Integer-array indices out of bounds wrap around, as in CuPy (NumPy raises)."""
        keys = key if isinstance(key, tuple) else (key,)
        if any(k is None or k is Ellipsis for k in keys):
            return key
        wrapped = tuple(
            k % self._a.shape[axis]
            if isinstance(k, np.ndarray) and k.dtype.kind in "iu" and axis < self._a.ndim
            else k
            for axis, k in enumerate(keys)
        )
        return wrapped if isinstance(key, tuple) else wrapped[0]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if not (key is Ellipsis or (isinstance(key, slice) and key == slice(None))):
                _refuse()  # CuPy copies host data in only as a[...] = host or a[:] = host
            COUNTER.to_device += 1
        else:
            value = unwrap(value)
        self._a[self._wrap_around(_index(key))] = value

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (DeviceArray(np.asarray(row)) for row in self._a)

    def __repr__(self) -> str:
        return f"DeviceArray({self._a!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # NOTE: __array_interface__ etc. would hand NumPy the memory
            raise AttributeError(name)
        attribute = getattr(self._a, name)
        if callable(attribute):
            return lambda *args, **kwargs: wrap(
                _as_array(attribute(*unwrap(args), **unwrap(kwargs)))
            )
        return wrap(attribute)

    @property
    def T(self) -> DeviceArray:
        return DeviceArray(self._a.T)

    @property
    def device(self) -> Any:
        return _Device(0)


def _as_array(value: Any) -> Any:
    """Reductions give 0-d arrays, not NumPy scalars, as in CuPy."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def _index(key: Any) -> Any:
    """The NumPy key for a device key; a host index array is copied to the device first."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, DeviceArray):
        return key._a
    if isinstance(key, np.ndarray):
        COUNTER.to_device += 1
    return key


class _Device:
    def __init__(self, id: int = 0) -> None:
        self.id = id

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _to_device(data: Any, dtype: Any = None, **kwargs: Any) -> DeviceArray:
    if isinstance(data, DeviceArray):
        return DeviceArray(data._a if dtype is None else data._a.astype(dtype, copy=False))
    array = np.array(data, dtype=dtype, **kwargs)
    COUNTER.to_device += 1
    COUNTER.to_device_scalars += array.ndim == 0
    return DeviceArray(array)


class _Namespace(types.ModuleType):
    """``cupy`` itself: NumPy's functions, computing on device arrays."""

    ndarray = DeviceArray

    def __init__(self, name: str, target: Any) -> None:
        super().__init__(name)
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if isinstance(attribute, types.ModuleType):
            return _Namespace(f"{self.__name__}.{name}", attribute)
        if callable(attribute) and not isinstance(attribute, type | np.dtype):
            return lambda *args, **kwargs: wrap(
                _as_array(attribute(*unwrap(args), **unwrap(kwargs)))
            )
        return attribute


# cupyx.scatter_add with an integer-array index: CUDA's atomicAdd dtypes only (CuPy's docs)
SCATTER_ADD_DTYPES = {np.dtype(t) for t in ("float32", "int32", "uint32", "uint64")}


def _scatter_add(target: DeviceArray, index: Any, values: Any) -> None:
    keys = index if isinstance(index, tuple) else (index,)
    integer_array = any(
        (k._a if isinstance(k, DeviceArray) else np.asarray(k)).dtype.kind in "iu"
        for k in keys
        if isinstance(k, DeviceArray | np.ndarray | list)
    )
    if integer_array and target._a.dtype not in SCATTER_ADD_DTYPES:
        raise TypeError(
            "scatter_add only supports int32, float32, uint32, uint64 as data type; "
            f"got {target._a.dtype}"
        )
    np.add.at(target._a, _index(index), unwrap(values))


class _Generator:
    """``cupy.random.Generator``: draws made on the device (no transfer), from a NumPy
    generator seeded the same way (CuPy's numbers differ: they come from cuRAND)."""

    def __init__(self, seed: Any = None) -> None:
        self._g = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = np.float64) -> DeviceArray:
        return DeviceArray(np.asarray(self._g.random(size, dtype=dtype)))


def install(monkeypatch: Any) -> Counter:
    """Make chainrule's CuPy this fake; returns the counter, reset."""
    from chainrule.backend import arrays, random

    cupy = _Namespace("cupy", np)
    cupy.asarray = _to_device
    cupy.array = _to_device
    cupy.ascontiguousarray = lambda a, dtype=None: (
        DeviceArray(np.ascontiguousarray(a._a, dtype))
        if isinstance(a, DeviceArray)
        else _to_device(np.ascontiguousarray(a, dtype))
    )
    cupy.get_array_module = lambda *a: cupy
    cupy.cuda = types.SimpleNamespace(Device=_Device)
    cupy.random = _Namespace("cupy.random", np.random)
    cupy.random.default_rng = _Generator
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = _scatter_add
    stride_tricks = _Namespace("cupy.lib.stride_tricks", np.lib.stride_tricks)
    for name, module in {
        "cupy": cupy,
        "cupyx": cupyx,
        "cupy.lib": _Namespace("cupy.lib", np.lib),
        "cupy.lib.stride_tricks": stride_tricks,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(arrays, "_cupy", cupy)
    monkeypatch.setattr(random, "_device_generators", {})  # none made by an earlier fake
    COUNTER.reset()
    return COUNTER
