"""Norm penalties on the weights (L1, L2), the proximal L1 step and the max-norm constraint.

Which parameters are weights: those that require grad, have at least two axes and are
not named ``bias`` -- Linear's (out, in) and Conv2d's (F, C, kh, kw). Biases and batch
norm's gamma and beta are 1-D, so they are never penalised or constrained: each
controls one unit, and shrinking it only underfits (the lecture penalises weights only).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from chainrule.autograd.creation import zeros
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.checks import is_finite_number
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.nn.module import Module
from chainrule.nn.utils import as_tensor_list

if TYPE_CHECKING:
    from chainrule.optim.optimizer import Optimizer


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


def l1_prox_(module_or_params: Module | Tensor | Iterable[Tensor], threshold: float) -> None:
    """Soft-threshold the weights in place: w <- sign(w) max(|w| - threshold, 0).

    The proximal operator of ``threshold * |w|``: every weight moves ``threshold``
    towards zero and stops *at* zero instead of crossing it, so a weight the data does
    not hold away from zero becomes exactly 0 (the result is +0, never -0). After an
    optimiser step with learning rate ``lr`` it is the L1 half of a proximal gradient
    step with ``threshold = lr * l1`` (see ``L1L2(proximal=True)``). A module's weights
    are chosen as for the penalties.
    """
    if not is_finite_number(threshold) or threshold < 0:
        raise ArgumentError(f"l1_prox_: threshold must be a non-negative number; got {threshold!r}")
    if isinstance(module_or_params, Module):
        params = regularized_parameters(module_or_params)
    else:
        params = as_tensor_list(module_or_params, "l1_prox_")
    if not threshold:
        return
    for w in params:
        xp = get_array_module(w.data)
        w.data -= xp.clip(w.data, -threshold, threshold)  # |w| <= t: w - w = +0 exactly


class L1L2:
    """``L1L2(l1, l2)(model)`` = l1 * sum |w| + l2 / 2 * sum w^2 over the model's weights.

    A penalty to pass to ``fit(..., regularizer=L1L2(l2=1e-4))``. Note the 1/2: Keras'
    ``L1L2(l2=x)`` is this ``L1L2(l2=2x)``.

    ``proximal=True`` minimises the same objective with a proximal L1 step instead of
    the subgradient l1 * sign(w), which never lets a weight settle at zero: it only
    jumps across it, so L1's "feature selection" leaves weights hovering within
    about lr * l1 of 0. The gradient then carries the L2 term only, and after each
    optimiser step ``proximal_step`` soft-thresholds every weight with its parameter
    group's current learning rate, w <- sign(w) max(|w| - lr * l1, 0), so weights
    reach exactly 0 and stay there while the data's gradient is weaker than l1. This
    is the forward-backward splitting of Duchi & Singer, "Efficient online and batch
    learning using forward backward splitting" (JMLR 2009), i.e. proximal (ISTA-style)
    SGD; Langford, Li & Zhang's truncated gradient (JMLR 2009) and Tsuruoka et al.'s
    cumulative L1 penalty (ACL 2009; scikit-learn's SGD with ``penalty="l1"``) are
    close relatives; TensorFlow Playground's L1 also sets a weight that its L1 step
    pushes across zero to 0 (and then freezes it, which this does not).

    ``fit``/``Trainer`` call ``proximal_step`` for you; a hand-written loop calls
    ``reg.proximal_step(model, optimizer)`` after ``optimizer.step()``. With an adaptive
    optimiser (Adam, RMSprop) the threshold uses the group's base lr, not the per-weight
    step size. The value ``__call__`` returns (and ``fit`` logs as ``penalty``) still
    includes the L1 term, as a constant.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, proximal: bool = False) -> None:
        self.l1 = _check_lam(l1, "L1L2(l1)")
        self.l2 = _check_lam(l2, "L1L2(l2)")
        if not isinstance(proximal, bool):
            raise ArgumentTypeError(f"L1L2(proximal) must be True or False; got {proximal!r}")
        self.proximal = proximal

    def __call__(self, module: Module) -> Tensor:
        penalty = zeros(())
        if self.l1:
            if self.proximal:  # the value only: proximal_step does the L1 part of the step
                with no_grad():
                    penalty = l1_penalty(module, self.l1)
            else:
                penalty = l1_penalty(module, self.l1)
        if self.l2:
            penalty = penalty + l2_penalty(module, self.l2)
        return penalty

    def proximal_step(self, module: Module, optimizer: Optimizer) -> None:
        """After ``optimizer.step()``: soft-threshold the weights by lr * l1, lr per group.

        Does nothing unless ``proximal=True``. Only weights the optimiser trains move;
        each uses the current ``lr`` of its parameter group (so LR schedules apply).
        """
        if not self.proximal or not self.l1:
            return
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list):
            raise ArgumentTypeError(
                "L1L2.proximal_step: optimizer must be an optimiser with param_groups; "
                f"got {type(optimizer).__name__}"
            )
        weights = {id(w) for w in regularized_parameters(module)}
        for group in groups:
            l1_prox_([p for p in group["params"] if id(p) in weights], float(group["lr"]) * self.l1)

    def __repr__(self) -> str:
        extra = ", proximal=True" if self.proximal else ""
        return f"L1L2(l1={self.l1}, l2={self.l2}{extra})"


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
