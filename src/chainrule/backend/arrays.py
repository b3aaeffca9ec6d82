"""Choosing the array module, converting data, and moving arrays between devices.

New tensors made from host data (lists, NumPy arrays, numbers) go to the default
device: 'cpu' unless ``set_default_device('cuda')`` was called, or the environment
variable CHAINRULE_DEVICE (read once, when chainrule is imported) says 'cuda'.
"""

from __future__ import annotations

import os
import types
from typing import Any

import numpy
import numpy.typing

from chainrule.errors import ArgumentError, ArgumentTypeError, DTypeError

# A numpy.ndarray or a cupy.ndarray: CuPy ships no type stubs, so nothing narrower holds.
Array = Any
HostArray = numpy.ndarray  # an array on the host, as to_numpy returns it
# What asarray turns into an array: an Array, a Tensor's data, nested lists, numbers.
ArrayLike = Array | numpy.typing.ArrayLike
Scalar = bool | int | float
DType = numpy.dtype  # a NumPy or CuPy array's dtype (CuPy uses NumPy's dtypes)
DTypeLike = str | type | numpy.dtype | None

_default_float: numpy.dtype = numpy.dtype("float32")
_cupy: types.ModuleType | None = None


def _cupy_module() -> types.ModuleType:
    global _cupy
    if _cupy is None:
        try:
            import cupy  # optional: CuPy, only on a GPU
        except ImportError as error:
            raise ArgumentError(
                "device='cuda' needs CuPy; install it with pip install cupy-cuda12x "
                "(or the build that matches your CUDA)"
            ) from error
        _cupy = cupy
    return _cupy


def get_array_module(*arrays: Array) -> types.ModuleType:
    """The namespace (numpy or cupy) that holds ``arrays``; numpy for host data."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return numpy


def array_module(device: str) -> types.ModuleType:
    """The namespace for a device name: 'cpu' -> numpy, 'cuda' -> cupy."""
    if device == "cpu":
        return numpy
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        _gpu_index(device)  # checks N
        return _cupy_module()
    raise ArgumentError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


def default_device() -> str:
    """The device that new tensors made from host data go to ('cpu' or 'cuda')."""
    return _default_device


def set_default_device(device: str) -> None:
    """Make ``device`` ('cpu' or 'cuda') where new tensors, parameters and batches go."""
    global _default_device
    array_module(device)  # checks the name, and that CuPy is there for 'cuda'
    _default_device = device


def _device_from_environment() -> str:
    device = os.environ.get("CHAINRULE_DEVICE", "cpu")
    try:
        array_module(device)
    except ArgumentError as error:
        raise ArgumentError(
            f"the environment variable CHAINRULE_DEVICE={device!r}: {error}"
        ) from None
    return device


def device_of(array: Array) -> str:
    """'cpu' for a NumPy array, 'cuda' for a CuPy array; anything else is refused."""
    if isinstance(array, numpy.ndarray | numpy.generic):
        return "cpu"
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    raise ArgumentTypeError(
        f"device_of: expected a NumPy or CuPy array; got {type(array).__module__}."
        f"{type(array).__qualname__}"
    )


def default_float_dtype() -> numpy.dtype:
    """The dtype floating data gets when none is asked for (float32 unless changed)."""
    return _default_float


def set_default_float_dtype(dtype: DTypeLike) -> None:
    """Make ``dtype`` (float32 or float64) the dtype of new floating tensors."""
    global _default_float
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise ArgumentError(f"default dtype must be a floating dtype; got {dtype}")
    _default_float = dtype


def as_dtype(dtype: DTypeLike) -> numpy.dtype:
    """``dtype`` as a dtype object ('float32', numpy.float64, ... all accepted)."""
    try:
        return numpy.dtype(dtype)
    except TypeError as error:
        raise DTypeError(f"{dtype!r} is not a dtype; expected e.g. 'float32'") from error


def is_floating(dtype: DTypeLike) -> bool:
    return as_dtype(dtype).kind == "f"


def asarray(
    data: ArrayLike, dtype: DTypeLike = None, device: str | None = None, name: str = "data"
) -> Array:
    """``data`` as an array on ``device`` (default: where it is, host data on the default
    device); floating data without a ``dtype`` gets the default dtype.

    Integer and boolean data keep their dtype (labels, indices, masks). The one checked
    way into a tensor: anything that is not numbers of one rectangular shape (ragged
    lists, dicts, strings, complex numbers, objects) is refused naming ``name``.
    """
    if device is not None:
        xp = array_module(device)
    else:  # arrays stay where they are; host data goes to the default device
        xp = get_array_module(data)
        if xp is numpy and _default_device != "cpu":
            xp, device = array_module(_default_device), _default_device
    _refuse_non_numbers(data, name)
    try:
        # NOTE: not asarray(data, dtype): that parses "1" as 1.0
        if xp is numpy or device is None:
            array = xp.asarray(data)
        else:
            with xp.cuda.Device(_gpu_index(device)):  # 'cuda:N': GPU N, not the current one
                array = xp.asarray(data)
    except (ValueError, TypeError) as error:
        raise ArgumentError(
            f"{name} must be numbers of one rectangular shape (a tensor, an array, a number "
            f"or nested lists of equal length); got a {type(data).__name__} NumPy cannot "
            f"make an array of ({error})"
        ) from None
    if array.dtype.kind not in "fiub":
        raise DTypeError(
            f"{name} must be real numbers (float, int or bool); got data of dtype "
            f"{array.dtype}{' (complex numbers)' if array.dtype.kind == 'c' else ''}"
        )
    if dtype is not None:
        return array.astype(as_dtype(dtype), copy=False)
    if array.dtype.kind == "f" and array.dtype != _default_float:
        return array.astype(_default_float)
    return array


def _refuse_non_numbers(data: ArrayLike, name: str) -> None:
    """Refuse, before NumPy guesses, the Python values that are never numbers."""
    if isinstance(data, str | bytes | dict | set | frozenset) or data is None:
        raise ArgumentTypeError(
            f"{name} must be numbers (a tensor, an array, a number or nested lists of "
            f"numbers); got {type(data).__name__} {_short(data)}"
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def to_device(array: Array, device: str) -> Array:
    """``array`` on ``device`` ('cpu', 'cuda' or 'cuda:N' for GPU N); the same object when
    already there."""
    if device_of(array) == ("cpu" if device == "cpu" else "cuda"):
        return array
    if device == "cpu":
        return array.get()
    cupy = array_module(device)
    with cupy.cuda.Device(_gpu_index(device)):
        return cupy.asarray(array)


def _gpu_index(device: str) -> int:
    """N of 'cuda:N' (0 for 'cuda')."""
    index = device.partition(":")[2] or "0"
    if not index.isdigit():
        raise ArgumentError(
            f"unknown device {device!r}; expected 'cuda' or 'cuda:N', N a GPU number"
        )
    return int(index)


def format_array(array: Array, prefix: str = "") -> str:
    """``array``'s values as text, aligned for a repr that starts with ``prefix``."""
    return numpy.array2string(
        to_numpy(array), separator=", ", prefix=prefix, threshold=200, precision=4
    )


def to_numpy(array: Array) -> numpy.ndarray:
    """A host (NumPy) array with the contents of ``array``."""
    if isinstance(array, numpy.ndarray):
        return array
    if isinstance(array, numpy.generic):
        return numpy.asarray(array)
    return array.get()


_default_device = _device_from_environment()
