"""``Parameter``: a tensor a module learns; it requires grad unless frozen."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor registered by the module that owns it. Freeze with ``requires_grad = False``."""

    def __init__(
        self, data: Any, requires_grad: bool = True, dtype: backend.DTypeLike = None
    ) -> None:
        if isinstance(data, Tensor):
            if dtype is None and data.dtype.kind == "f":
                dtype = data.dtype  # a float64 tensor stays float64; raw data gets the default
            data = data.data
        super().__init__(data, dtype=dtype)
        # Own the memory: optimisers update parameters in place, and must not write
        # into an array the caller still holds.
        self.data = self.data.copy()
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("tensor(") :]
