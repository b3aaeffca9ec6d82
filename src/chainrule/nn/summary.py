"""``Module.summary``: a Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainrule import backend
from chainrule.autograd.creation import zeros
from chainrule.nn.modes import evaluating

if TYPE_CHECKING:
    from chainrule.nn.module import Module


def summarize(model: Module, input_shape: tuple[int, ...], dtype: backend.DTypeLike = None) -> str:
    """The summary table of ``model`` run on a zero batch of ``(2, *input_shape)``."""
    rows = _rows(model, _record_outputs(model, input_shape, dtype))
    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    width = max([30, *(len(r[0]) + 2 for r in rows)])
    rule = "=" * (width + 40)
    lines = [
        f'Model: "{type(model).__name__}"',
        rule,
        f"{'Layer (type)':{width}s}{'Output Shape':26s}{'Param #':>14s}",
        rule,
    ]
    for label, shape, count in rows:
        lines.append(f"{label:{width}s}{shape:26s}{count:>14,}")
    lines += [
        rule,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        rule,
    ]
    return "\n".join(lines)


def _record_outputs(
    model: Module, input_shape: tuple[int, ...], dtype: backend.DTypeLike
) -> list[tuple[Module, Any]]:
    """(module, output) of every module call in one forward pass, in the order the calls
    return, through a forward hook on each module (added last, so it sees the output
    that the module's own hooks leave)."""
    records: list[tuple[Module, Any]] = []

    def record(module: Module, inputs: tuple[Any, ...], output: Any) -> None:
        records.append((module, output))

    handles = [m.register_forward_hook(record) for m in model.modules()]
    try:
        with evaluating(model):
            model(zeros((2, *input_shape), dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
    return records


def _rows(model: Module, records: list[tuple[Module, Any]]) -> list[tuple[str, str, int]]:
    """(label, output shape, own parameter count) of every layer; containers without
    parameters of their own have no row (their layers have)."""
    names = {id(m): name for name, m in model.named_modules()}
    rows = []
    for m, out in records:
        if m is model and m._modules:
            continue
        if m._modules and not m._parameters:
            continue  # a container: its layers have rows of their own
        own = sum(p.size for p in m._parameters.values() if p is not None)
        shape = (
            "(None, " + ", ".join(str(n) for n in out.shape[1:]) + ")"
            if hasattr(out, "shape")
            else "?"
        )
        label = f"{names.get(id(m), '?') or type(m).__name__} ({type(m).__name__})"
        rows.append((label, shape.replace(", )", ")"), own))
    return rows
