"""Containers: ``Sequential`` (layers applied in order) and ``ModuleList`` (held, not called)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, overload

from chainrule.checks import check_positive_int
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module


class Sequential(Module):
    """Applies its layers in order: ``Sequential(Linear(784, 100), ReLU(), Linear(100, 10))``.

    Accepts modules as arguments or one ``OrderedDict`` of named modules.
    """

    def __init__(self, *layers: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, layer)
        else:
            for i, layer in enumerate(layers):
                self.add_module(str(i), layer)

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x

    def append(self, layer: Module) -> Sequential:
        self.add_module(str(len(self._modules)), layer)
        return self

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Module | Sequential:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def replace_head(self, num_classes: int) -> Linear:
        """Swap the output layer (the last layer with weights, a ``Linear``) for a fresh
        ``Linear(in_features, num_classes)``, in place; returns the new layer.

        The transfer-learning idiom: ``model.replace_head(5)`` keeps every other layer.
        """
        check_positive_int(num_classes, "num_classes", "replace_head")
        names = [n for n, m in self._modules.items() if any(True for _ in m.parameters())]
        if not names:
            raise ArgumentError("replace_head: this Sequential has no layer with weights")
        old = self._modules[names[-1]]
        if not isinstance(old, Linear):
            raise ArgumentTypeError(
                f"replace_head: the output layer ({names[-1]!r}) must be a Linear; "
                f"got {type(old).__name__}"
            )
        head = Linear(
            old.in_features, num_classes, bias=old.bias is not None, dtype=old.weight.dtype
        )
        head.to(old.weight.device)
        self.add_module(names[-1], head)
        return head

    def __setitem__(self, index: int, layer: Module) -> None:
        name = list(self._modules)[index]
        self.add_module(name, layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules whose parameters the parent sees; the parent decides how to call them."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"ModuleList holds Modules; got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())
