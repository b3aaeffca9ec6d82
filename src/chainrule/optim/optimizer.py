"""``Optimizer``: parameter groups, per-parameter state, ``step``/``zero_grad``, state_dict.

A subclass names its hyperparameters (``defaults``) and writes one method, ``update``,
the rule that moves one parameter given its gradient. The base class walks the groups,
skips parameters without a gradient or frozen ones, checks hyperparameters when a
group is added, and saves / restores the state by parameter index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.tensor import Tensor
from chainrule.checks import is_finite_number
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError

Array = backend.Array
# What an optimiser is built on: parameters, or groups of them with their own options
# ({"params": [...], "lr": 0.01}).
Params = Iterable[Tensor] | Iterable[Mapping[str, Any]]

# The ranges every optimiser's hyperparameters must lie in, by name.
_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "lr": (lambda v: v >= 0, "a non-negative number"),
    "weight_decay": (lambda v: v >= 0, "a non-negative number"),
    "momentum": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dampening": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "alpha": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "rho": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "eps": (lambda v: v > 0, "a positive number"),
    "initial_accumulator_value": (lambda v: v >= 0, "a non-negative number"),
    "momentum_decay": (lambda v: v >= 0, "a non-negative number"),
}
_FLAGS = ("nesterov", "centered", "amsgrad")
_EXTRA_GROUP_KEYS = ("params", "initial_lr", "name")  # initial_lr is set by lr schedules


class Optimizer:
    """Base of every optimiser: ``Optimizer(params, defaults)``.

    ``params`` is an iterable of Parameters (or leaf Tensors), or of dicts, each a
    parameter group ``{"params": [...], "lr": ...}`` whose options override
    ``defaults``. ``state[p]`` holds what the rule remembers about parameter ``p``.
    """

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor | Mapping) or not isinstance(params, Iterable):
            raise ArgumentTypeError(
                f"{self._name}: params must be an iterable of Parameters or of dicts "
                f"(parameter groups); got {type(params).__name__}. Pass model.parameters() "
                "or a list, e.g. [w]"
            )
        groups = list(params)
        if not groups:
            raise ArgumentError(
                f"{self._name} got an empty parameter list (note that model.parameters() "
                "is a generator: it is empty the second time it is used)"
            )
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own options (the rest from ``defaults``)."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise ArgumentTypeError(
                f"{self._name}: a parameter group must be a dict with a 'params' key; "
                f"got {group!r:.80}"
            )
        unknown = sorted(set(group) - set(self.defaults) - set(_EXTRA_GROUP_KEYS))
        if unknown:
            raise ArgumentError(
                f"{self._name}: unknown option(s) {', '.join(unknown)} in a parameter group; "
                f"expected some of {', '.join(sorted(self.defaults))}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ArgumentError(f"{self._name}: a parameter group has an empty 'params' list")
        seen = {id(p): i for i, g in enumerate(self.param_groups) for p in g["params"]}
        for p in params:
            self._check_param(p)
            if id(p) in seen:
                where = "this group" if seen[id(p)] is None else f"group {seen[id(p)]}"
                raise ArgumentError(
                    f"{self._name}: a parameter of shape {tuple(p.shape)} appears twice "
                    f"(already in {where}); each parameter may be given once"
                )
            seen[id(p)] = None
        new_group = {**self.defaults, **group, "params": params}
        for key in self.defaults:
            new_group[key] = self._checked(key, new_group[key])
        self.check_group(new_group)
        self.param_groups.append(new_group)

    def _check_param(self, p: Any) -> None:
        if not isinstance(p, Tensor):
            raise ArgumentTypeError(
                f"{self._name} can only optimise Parameters or Tensors; got a "
                f"{type(p).__name__} in params"
            )
        if p.dtype.kind != "f":
            raise ArgumentTypeError(
                f"{self._name} can only optimise floating-point tensors; got dtype {p.dtype}"
            )
        if not p.is_leaf:
            raise ArgumentError(
                f"{self._name} can only optimise leaf tensors; got one computed by "
                f"{p.grad_fn}. Use a Parameter, or .detach().requires_grad_()"
            )

    def _checked(self, key: str, value: Any) -> Any:
        """``value`` as a plain Python number / tuple, if it lies in the range ``key`` needs."""
        if key in _FLAGS:
            if not isinstance(value, bool):
                raise ArgumentTypeError(
                    f"{self._name}: {key} must be True or False; got {key}={value!r}"
                )
            return value
        if key == "betas":
            ok = (
                isinstance(value, tuple | list)
                and len(value) == 2
                and all(is_finite_number(b) and 0 <= b < 1 for b in value)
            )
            if not ok:
                raise ArgumentError(
                    f"{self._name}: betas must be a pair of numbers in [0, 1); got betas={value!r}"
                )
            return (float(value[0]), float(value[1]))
        if key in _RANGES:
            in_range, expected = _RANGES[key]
            if not is_finite_number(value) or not in_range(value):
                raise ArgumentError(f"{self._name}: {key} must be {expected}; got {key}={value!r}")
            return float(value)
        return value

    def check_group(self, group: dict[str, Any]) -> None:
        """Checks that involve several options at once (e.g. SGD's nesterov needs momentum)."""

    # -------------------------------------------------------------------- step
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Update every parameter that has a gradient and requires grad, in place.

        ``closure`` (optional) recomputes and returns the loss, which step returns.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                self.update(p, p.grad.data, self.state.setdefault(p, {}), group)
        return loss

    def update(self, p: Tensor, grad: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Move ``p.data`` in place, given its gradient ``grad`` (never modified)."""
        raise NotImplementedError(f"{self._name} must define update()")

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: array or number}}, "param_groups": [options + indices]}.

        Parameters are numbered in group order, so the state loads into a fresh model's
        optimiser; arrays are host (NumPy) copies and every other value a plain number,
        bool or tuple: the dict can be saved without pickle.
        """
        groups, state, index = [], {}, 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(index, index + len(group["params"])))
            groups.append(saved)
            for p in group["params"]:
                if self.state.get(p):
                    state[index] = {k: _to_host(v) for k, v in self.state[p].items()}
                index += 1
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned, into this optimiser's own parameters.

        The groups must match in number and size, and each saved array the shape of its
        parameter; nothing is changed unless everything fits.
        """
        prefix = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ArgumentError(
                f"{prefix}: expected a dict with 'state' and 'param_groups' "
                "(what Optimizer.state_dict() returns)"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ShapeError(
                f"{prefix}: the state has {len(saved_groups)} parameter group(s); this "
                f"optimiser has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ShapeError(
                    f"{prefix}: parameter group {i} has {len(saved['params'])} parameters in "
                    f"the state and {len(group['params'])} here"
                )
            by_index.update(zip((int(j) for j in saved["params"]), group["params"]))
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, values in state_dict["state"].items():
            if int(key) not in by_index:
                raise ArgumentError(f"{prefix}: state for parameter {key}, which no group holds")
            p = by_index[int(key)]
            new_state[p] = {
                name: _to_param(value, p, f"{prefix}: state[{key}][{name!r}]")
                for name, value in values.items()
            }
        options = []
        for saved in saved_groups:
            unknown = sorted(set(saved) - set(self.defaults) - set(_EXTRA_GROUP_KEYS))
            if unknown:
                raise ArgumentError(
                    f"{prefix}: the state has option(s) {', '.join(unknown)}, which "
                    f"{self._name} does not have: is it another optimiser's state?"
                )
            options.append({k: self._checked(k, v) for k, v in saved.items() if k != "params"})
        for group, saved_options in zip(self.param_groups, options):
            self.check_group({**group, **saved_options})
        for group, saved_options in zip(self.param_groups, options):
            group.update(saved_options)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join([*lines, ")"])


def _to_host(value: Any) -> Any:
    """A state value as a NumPy copy (arrays) or itself (numbers)."""
    return backend.to_numpy(value).copy() if hasattr(value, "shape") else value


def _to_param(value: Any, p: Tensor, where: str) -> Any:
    """A saved state value as an array on ``p``'s device in ``p``'s dtype (numbers as they are)."""
    if not hasattr(value, "shape"):
        return value
    if tuple(value.shape) != tuple(p.shape):
        raise ShapeError(
            f"{where} has shape {tuple(value.shape)}; the parameter has {tuple(p.shape)}"
        )
    array = backend.asarray(value, dtype=p.dtype)
    return backend.to_device(array, p.device).copy()
