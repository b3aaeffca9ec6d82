"""``Module.summary``: a Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.creation import zeros
from chainrule.autograd.grad_mode import no_grad
from chainrule.nn import module as module_mod


def summarize(
    model: module_mod.Module, input_shape: tuple[int, ...], dtype: backend.DTypeLike = None
) -> str:
    """The summary table of ``model`` run on a zero batch of ``(2, *input_shape)``."""
    names = {id(m): name for name, m in model.named_modules()}
    modes = {id(m): m.training for m in model.modules()}
    module_mod._recording = []
    try:
        model.eval()
        with no_grad():
            model(zeros((2, *input_shape), dtype=dtype))
        records = module_mod._recording
    finally:
        module_mod._recording = None
        for m in model.modules():
            object.__setattr__(m, "training", modes[id(m)])

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
