"""``train_ensemble``: N models that differ by seed (initialisation and batch order) or by
configuration, trained one after the other."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from chainrule.backend import manual_seed
from chainrule.checks import is_int
from chainrule.ensemble.ensemble import Ensemble
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.train.loop import fit


def _optimizer_for(spec: Any, model: Module) -> Any:
    """A fresh optimiser per member: a name stays a name; a class, ``partial`` or factory
    ``f(params) -> Optimizer`` gets the member's parameters (a factory whose argument is
    named ``model`` or ``module`` gets the member itself)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, type) or (callable(spec) and not hasattr(spec, "param_groups")):
        try:
            first = next(iter(inspect.signature(spec).parameters), None)
        except (TypeError, ValueError):
            first = None
        return spec(model if first in ("model", "module") else model.parameters())
    raise ArgumentError(
        "train_ensemble trains several models, so optimizer must be a name ('adam'), an "
        "optimiser class or a factory such as lambda params: optim.Adam(params, lr=0.01); "
        f"got an optimiser instance {spec!r}, which is bound to one model's parameters"
    )


def train_ensemble(
    build_model: Callable[..., Module],
    train_fn: Callable[..., Any] | None = None,
    n_members: int | None = None,
    *,
    seeds: Sequence[int] | None = None,
    configs: Sequence[dict[str, Any]] | None = None,
    **fit_kwargs: Any,
) -> tuple[Ensemble, list[Any]]:
    """Build and train each member after ``chainrule.manual_seed(seed)``; (Ensemble, histories).

    Members are built by ``build_model()`` and trained by ``train_fn(model)`` (returning
    its History), or by ``fit(model, **fit_kwargs)``. Each member needs its own optimiser,
    so ``optimizer`` is a name (``"adam"``), a class (``optim.Adam``), a
    ``functools.partial(optim.Adam, lr=1e-3)``, or a factory ``lambda params:
    optim.Adam(params, lr=1e-3)`` (or ``lambda model: ...``), called once per member. With ``configs`` (a list of dicts, e.g. a search's best params) member i gets
    ``build_model(configs[i])`` and ``train_fn(model, configs[i])``. Seeds default to 0, 1, ...
    """
    if (train_fn is None) == (not fit_kwargs):
        raise ArgumentError(
            "train_ensemble needs train_fn(model) -> History or fit keywords "
            "(train_data=, loss=, optimizer=, epochs=, ...), not both and not neither"
        )
    if fit_kwargs and "train_data" not in fit_kwargs:
        raise ArgumentError("train_ensemble: the fit keywords need train_data=(x, y)")
    counts = {}
    if n_members is not None:
        counts["n_members"] = n_members
    if seeds is not None:
        counts["seeds"] = len(seeds)
    if configs is not None:
        counts["configs"] = len(configs)
    if not counts:
        raise ArgumentError("train_ensemble needs n_members, seeds or configs")
    n = next(iter(counts.values()))
    if not is_int(n) or n < 1 or set(counts.values()) != {n}:
        raise ArgumentError(
            "train_ensemble: n_members, len(seeds) and len(configs) must agree on a positive "
            f"count; got {counts}"
        )
    seeds = list(range(n)) if seeds is None else list(seeds)
    members, histories = [], []
    for i, seed in enumerate(seeds):
        manual_seed(seed)
        config = None if configs is None else dict(configs[i])
        model = build_model() if config is None else build_model(config)
        if not isinstance(model, Module):
            raise ArgumentError(
                f"build_model must return a chainrule.nn.Module; got {type(model).__name__}"
            )
        if train_fn is not None:
            history = train_fn(model) if config is None else train_fn(model, config)
        else:
            kwargs = dict(fit_kwargs)
            if "optimizer" in kwargs:
                kwargs["optimizer"] = _optimizer_for(kwargs["optimizer"], model)
            history = fit(model, **kwargs)
        members.append(model)
        histories.append(history)
    return Ensemble(members), histories
