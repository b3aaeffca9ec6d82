"""Norm penalties on the weights (L1, L2) and the max-norm constraint.

Which parameters are weights: those that require grad, have at least two axes and are
not named ``bias`` -- Linear's (out, in) and Conv2d's (F, C, kh, kw). Biases and batch
norm's gamma and beta are 1-D, so they are never penalised or constrained: each
controls one unit, and shrinking it only underfits (the lecture penalises weights only).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.autograd.creation import zeros
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.nn.module import Module
from chainrule.nn.utils import as_tensor_list, is_finite_number


def regularized_parameters(module: Module) -> list[Tensor]:
    """The weights of ``module`` that penalties and max-norm apply to (see the module doc)."""
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"expected a Module; got {type(module).__name__}")
    return [
        p
        for name, p in module.named_parameters()
        if p.requires_grad and p.ndim >= 2 and name.rsplit(".", 1)[-1] != "bias"
    ]


def _check_lam(lam: Any, name: str) -> float:
    if not is_finite_number(lam) or lam < 0:
        raise ArgumentError(f"{name}: lam must be a non-negative number; got lam={lam!r}")
    return float(lam)


def l1_penalty(module: Module, lam: float) -> Tensor:
    """lam * sum |w| over the weights: a scalar to add to the loss (gradient lam * sign(w))."""
    lam = _check_lam(lam, "l1_penalty")
    terms = [w.abs().sum() for w in regularized_parameters(module)]
    if not terms:  # no weights, no penalty (lam * 0 would be NaN for a lam past float32)
        return zeros(())
    return lam * _total(terms)


def l2_penalty(module: Module, lam: float) -> Tensor:
    """lam / 2 * sum w^2 over the weights: a scalar to add to the loss.

    Its gradient is lam * w, so with plain SGD it is the same as ``weight_decay=lam``
    (which, unlike this, also decays biases unless they are put in a group of their own).
    """
    lam = _check_lam(lam, "l2_penalty")
    terms = [(w * w).sum() for w in regularized_parameters(module)]
    if not terms:
        return zeros(())
    return (0.5 * lam) * _total(terms)


def _total(terms: list[Tensor]) -> Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


class L1L2:
    """``L1L2(l1, l2)(model)`` = l1 * sum |w| + l2 / 2 * sum w^2 over the model's weights.

    A penalty to pass to ``fit(..., regularizer=L1L2(l2=1e-4))``. Note the 1/2: Keras'
    ``L1L2(l2=x)`` is this ``L1L2(l2=2x)``.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _check_lam(l1, "L1L2(l1)")
        self.l2 = _check_lam(l2, "L1L2(l2)")

    def __call__(self, module: Module) -> Tensor:
        penalty = zeros(())
        if self.l1:
            penalty = l1_penalty(module, self.l1)
        if self.l2:
            penalty = penalty + l2_penalty(module, self.l2)
        return penalty

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def max_norm_(
    module_or_params: Module | Tensor | Iterable[Tensor],
    max_value: float,
    axis: int | tuple[int, ...] | None = None,
) -> None:
    """Rescale, in place, every unit's incoming weight vector whose norm exceeds max_value.

    A unit's incoming vector spans all axes but the first (``axis=None``): a row of a
    Linear weight (out, in), one filter (C, kh, kw) of a Conv2d weight (F, C, kh, kw);
    a 1-D tensor is one vector. Vectors within the bound are left exactly as they are.
    Call after each optimiser step. A module's weights are chosen as for the penalties.
    """
    if not is_finite_number(max_value) or max_value <= 0:
        raise ArgumentError(f"max_norm_: max_value must be a positive number; got {max_value!r}")
    if isinstance(module_or_params, Module):
        params = regularized_parameters(module_or_params)
    else:
        params = as_tensor_list(module_or_params, "max_norm_")
    for w in params:
        xp = get_array_module(w.data)
        axes = _incoming_axes(w, axis)
        norms = xp.sqrt(xp.sum(w.data * w.data, axis=axes, keepdims=True))
        w.data *= max_value / xp.maximum(norms, max_value)  # c / max(||w||, c): 1 when within


def _incoming_axes(w: Tensor, axis: int | tuple[int, ...] | None) -> tuple[int, ...] | None:
    if axis is None:
        return tuple(range(1, w.ndim)) if w.ndim >= 2 else None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(isinstance(a, int) and -w.ndim <= a < w.ndim for a in axes):
        raise ShapeError(
            f"max_norm_: axis={axis!r} does not fit a weight of shape {tuple(w.shape)}"
        )
    return axes


class MaxNorm:
    """The max-norm constraint as an object: ``MaxNorm(3.0)(model)`` after each step."""

    def __init__(self, max_value: float, axis: int | tuple[int, ...] | None = None) -> None:
        if not is_finite_number(max_value) or max_value <= 0:
            raise ArgumentError(f"MaxNorm: max_value must be a positive number; got {max_value!r}")
        self.max_value = float(max_value)
        self.axis = axis

    def __call__(self, module_or_params: Module | Tensor | Iterable[Tensor]) -> None:
        max_norm_(module_or_params, self.max_value, self.axis)

    def __repr__(self) -> str:
        return f"MaxNorm(max_value={self.max_value}, axis={self.axis})"
