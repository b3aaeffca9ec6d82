"""The array namespace behind every tensor: NumPy by default, CuPy on a GPU.

The engine (autograd, ops, nn, optim) reaches NumPy or CuPy only through this module:
an op asks ``get_array_module(x)`` for the namespace of its input and writes
``xp.exp(x)`` once for both. The few kernels whose code differs between the two live
in ``backend.kernels``. Tensors made from host data go to ``default_device()``:
'cpu', or 'cuda' after ``set_default_device('cuda')`` or with CHAINRULE_DEVICE=cuda in
the environment when chainrule is imported.
"""

from chainrule.backend.arrays import (
    Array,
    ArrayLike,
    DType,
    DTypeLike,
    HostArray,
    Scalar,
    array_module,
    as_dtype,
    asarray,
    default_device,
    default_float_dtype,
    device_of,
    format_array,
    get_array_module,
    is_floating,
    set_default_device,
    set_default_float_dtype,
    to_device,
    to_numpy,
)
from chainrule.backend.dtypes import bool_, float16, float32, float64, int32, int64, uint8
from chainrule.backend.random import (
    Generator,
    default_generator,
    fork_rng,
    get_rng_state,
    manual_seed,
    new_generator,
    set_rng_state,
)

__all__ = [
    "Array",
    "ArrayLike",
    "DType",
    "DTypeLike",
    "Generator",
    "HostArray",
    "Scalar",
    "array_module",
    "as_dtype",
    "asarray",
    "bool_",
    "default_device",
    "default_float_dtype",
    "default_generator",
    "device_of",
    "float16",
    "float32",
    "float64",
    "fork_rng",
    "format_array",
    "get_array_module",
    "get_rng_state",
    "int32",
    "int64",
    "is_floating",
    "manual_seed",
    "new_generator",
    "set_default_device",
    "set_default_float_dtype",
    "set_rng_state",
    "to_device",
    "to_numpy",
    "uint8",
]
