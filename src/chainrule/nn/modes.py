"""``evaluating(model)``: eval mode and no graph for a block, every module's mode restored after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chainrule.autograd.grad_mode import no_grad

if TYPE_CHECKING:
    from chainrule.nn.module import Module


@contextmanager
def evaluating(model: Module) -> Iterator[Module]:
    """Eval mode and no graph inside the block (dropout off, running statistics used, no
    gradients recorded); afterwards, also after an error, every module below ``model``
    is back in the mode it was in (batch norm that ``freeze`` pinned stays pinned)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
