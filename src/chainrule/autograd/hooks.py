"""Tensor hooks: functions called with a tensor's gradient during backward.

Kept in one table keyed by tensor, not on the tensor, so an op's output costs nothing
extra to make and the engine checks for hooks once per backward, not once per node.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from chainrule.backend import Array
from chainrule.errors import ShapeError

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor

Hook = Callable[["Tensor"], "Tensor | None"]

# id(tensor) -> its hooks, in the order registered; an entry goes when its tensor does.
_table: dict[int, list[Hook]] = {}


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, key: int, hook: Hook) -> None:
        self._key = key
        self._hook = hook

    def remove(self) -> None:
        hooks = _table.get(self._key)
        if hooks is not None and self._hook in hooks:
            hooks.remove(self._hook)
            if not hooks:
                del _table[self._key]


def register(tensor: Tensor, hook: Hook) -> RemovableHandle:
    key = id(tensor)
    if key not in _table:
        _table[key] = []
        weakref.finalize(tensor, _table.pop, key, None)
    _table[key].append(hook)
    return RemovableHandle(key, hook)


class RetainGrad:
    """The hook ``retain_grad()`` adds: stores the gradient on the (non-leaf) tensor."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = weakref.ref(tensor)

    def __call__(self, grad: Tensor) -> None:
        tensor = self.tensor()
        if tensor is not None:
            tensor.grad = (
                grad
                if tensor.grad is None
                else type(grad)._wrap(tensor.grad.data + grad.data, False)
            )


def retains_grad(tensor: Tensor) -> bool:
    return any(isinstance(h, RetainGrad) for h in _table.get(id(tensor), ()))


def run(tensor: Tensor, grad: Array, retain: bool = True) -> Array:
    """``grad`` (an array) after ``tensor``'s hooks: user hooks in order, then (with
    ``retain``; ``grad()`` passes False, as it changes no ``.grad``) retain_grad."""
    from chainrule.autograd.tensor import Tensor  # cycle: tensor.py imports this module

    hooks = _table.get(id(tensor))
    if not hooks:
        return grad
    retainers = [h for h in hooks if retain and isinstance(h, RetainGrad)]
    for hook in [h for h in hooks if not isinstance(h, RetainGrad)]:
        result = hook(Tensor._wrap(grad, False))
        if result is not None:
            result_data = result.data if isinstance(result, Tensor) else result
            if getattr(result_data, "shape", None) != grad.shape:
                raise ShapeError(
                    f"a hook returned a gradient of shape {getattr(result_data, 'shape', None)}; "
                    f"expected the tensor's shape {grad.shape}"
                )
            grad = result_data
    for hook in retainers:
        hook(Tensor._wrap(grad, False))
    return grad


def run_graph(tensor: Tensor, grad: Tensor, retain: bool = True) -> Tensor:
    """``run`` for the create_graph sweep: ``grad`` and what hooks return are Tensors (in
    the gradient's graph), and retain_grad keeps that Tensor."""
    from chainrule.autograd.tensor import Tensor

    hooks = _table.get(id(tensor))
    if not hooks:
        return grad
    for hook in [h for h in hooks if not isinstance(h, RetainGrad)]:
        result = hook(grad)
        if result is not None:
            if not isinstance(result, Tensor):
                result = Tensor._wrap(result, False)
            if result.shape != grad.shape:
                raise ShapeError(
                    f"a hook returned a gradient of shape {result.shape}; expected the "
                    f"tensor's shape {grad.shape}"
                )
            grad = result
    if retain:
        for hook in hooks:
            if isinstance(hook, RetainGrad):
                owner = hook.tensor()
                if owner is not None:
                    owner.grad = grad if owner.grad is None else owner.grad + grad
    return grad
