"""``WeightLayer``: the one way a layer makes its parameters (Keras' ``add_weight``).

A weight layer calls ``add_weight(name, shape, initializer, dtype)`` for each parameter in
its ``__init__``; the parameter is created as zeros in ``dtype`` and filled by its
initialiser at once, and ``reset_parameters()`` fills every parameter again in the order
they were added, so the random draws (and so a seeded run) never depend on which layer
it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from chainrule import backend
from chainrule.autograd.creation import zeros
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class WeightLayer(Module):
    """Base of the layers that learn parameters made by ``add_weight``."""

    def __init__(self) -> None:
        super().__init__()
        # parameter name -> its initialiser, in the order the parameters were added
        self._initializers: dict[str, init.Initializer] = {}

    def add_weight(
        self,
        name: str,
        shape: Sequence[int] | None,
        initializer: str | init.Initializer,
        dtype: backend.DTypeLike = None,
        argument: str | None = None,
    ) -> Parameter | None:
        """Create parameter ``name`` of ``shape`` in ``dtype`` (default float32) and fill it
        with ``initializer`` (a name in ``nn.init.INITIALIZERS`` or a function); errors
        name ``argument`` (default ``{name}_init``). ``shape=None`` checks the initialiser
        but registers ``name`` as None (``bias=False``)."""
        initializer = init.get_initializer(initializer, argument or f"{name}_init")
        if shape is None:
            self.register_parameter(name, None)
            return None
        parameter = Parameter(zeros(*shape, dtype=dtype))
        setattr(self, name, parameter)
        self._initializers[name] = initializer
        initializer(parameter)
        return parameter

    def reset_parameters(self) -> None:
        """Fill every parameter afresh from its initialiser, in the order they were added."""
        for name, initializer in self._initializers.items():
            initializer(getattr(self, name))
