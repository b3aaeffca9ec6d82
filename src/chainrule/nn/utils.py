"""Gradient clipping: by the global norm of all gradients, or elementwise by value.

Both replace ``p.grad`` with a new tensor rather than scaling it in place, since a
gradient array may be shared with another tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.checks import is_finite_number
from chainrule.errors import ArgumentError, ArgumentTypeError


def as_tensor_list(parameters: Tensor | Iterable[Tensor], owner: str) -> list[Tensor]:
    """One tensor or an iterable of them, as a list (checked)."""
    if not isinstance(parameters, Tensor | Iterable):
        raise ArgumentTypeError(
            f"{owner}: expected Parameters or Tensors; got a {type(parameters).__name__}"
        )
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise ArgumentTypeError(
                f"{owner}: expected Parameters or Tensors; got a {type(p).__name__}"
            )
    return params


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0
) -> float:
    """Scale all gradients by one factor so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector;
    ``norm_type`` may be ``math.inf``. Returns that norm before clipping (a float).
    """
    if not is_finite_number(max_norm) or max_norm <= 0:
        raise ArgumentError(
            f"clip_grad_norm_: max_norm must be a positive number; got {max_norm!r}"
        )
    if not (is_finite_number(norm_type) or norm_type == math.inf) or norm_type <= 0:
        raise ArgumentError(
            f"clip_grad_norm_: norm_type must be a positive number or math.inf; got {norm_type!r}"
        )
    params = [p for p in as_tensor_list(parameters, "clip_grad_norm_") if p.grad is not None]
    params = [p for p in params if p.grad.size > 0]
    if not params:
        return 0.0
    xp = get_array_module(params[0].grad.data)
    norms = xp.stack([_p_norm(p.grad.data.reshape(-1), norm_type) for p in params])
    total = float(_p_norm(norms, norm_type))  # ||(||g_1||, ||g_2||, ...)||
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in params:
            p.grad = Tensor(p.grad.data * scale, dtype=p.grad.dtype)
    return total


def _p_norm(values: Any, p: float) -> Any:
    """||values||_p of a vector, scaled by its largest magnitude so that no power overflows
    (2.0 ** p is inf in float32 from p = 128 on)."""
    xp = get_array_module(values)
    magnitudes = xp.abs(values)
    top = magnitudes.max()
    if p == math.inf or not top > 0 or not xp.isfinite(top):
        return top
    return top * ((magnitudes / top) ** p).sum() ** (1.0 / p)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value]."""
    if not is_finite_number(clip_value) or clip_value <= 0:
        raise ArgumentError(
            f"clip_grad_value_: clip_value must be a positive number; got {clip_value!r}"
        )
    for p in as_tensor_list(parameters, "clip_grad_value_"):
        if p.grad is not None:
            xp = get_array_module(p.grad.data)
            clipped = xp.clip(p.grad.data, -float(clip_value), float(clip_value))
            p.grad = Tensor(clipped, dtype=p.grad.dtype)
