"""Hyperparameter search over an experiment: ``chainrule tune SEARCH.toml``.

A search file names a base experiment and the keys to vary, by their dotted path in the
experiment file (list positions as numbers)::

    experiment = "digits"          # a named experiment or a .toml path
    method = "bayesian"            # grid | random | bayesian
    trials = 20                    # random and bayesian (a grid runs every point)
    seed = 0
    score = "val_accuracy"         # a logged validation value; the best epoch's counts
    holdout = 300                  # validation images held out of the training set
    epochs = 10                    # optional: override [training] epochs
    storage = "sqlite:///runs/digits.db"   # optional: continue later, share between workers

    [space]
    "optimizer.lr" = {log_uniform = [1e-4, 1e-1]}
    "model.layers.0.out" = [64, 128, 256]       # a list: grid values, or a choice
    "training.batch_size" = {choice = [32, 64]}
    "regularization.l2" = {uniform = [0.0, 1e-3]}
    "model.layers.2.p" = {uniform = [0.0, 0.5]}

Each trial is the base experiment with the trial's values put in, checked like any
experiment file, trained into ``<search dir>/trials/``. Trials are scored on validation
data held out of the training set, never on the test set: an experiment that validates
on the test set needs ``holdout``.
"""

from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainrule import tune
from chainrule.experiments import toml
from chainrule.experiments.config import ExperimentConfig
from chainrule.experiments.parse import find_experiment, parse_config
from chainrule.experiments.runner import run_experiment
from chainrule.experiments.schema import ConfigError, check_keys, suggest

METHODS = ("grid", "random", "bayesian")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "int_log_uniform", "choice")


@dataclass(frozen=True)
class SearchConfig:
    experiment: str
    base: dict[str, Any]  # the experiment file as parsed TOML, before any trial's values
    space: dict[str, Any]  # dotted path -> a chainrule.tune distribution, list or value
    method: str = "random"
    trials: int | None = None
    seed: int = 0
    score: str = "val_accuracy"
    direction: str = "maximize"
    holdout: int | None = None
    epochs: int | None = None
    storage: str | None = None
    study_name: str = "search"


def load_search(path: str | Path) -> SearchConfig:
    """A search file, checked: unknown keys, bad distributions and paths the base
    experiment does not have are errors naming them."""
    path = Path(path)
    try:
        document = toml.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the search file: {error.strerror or error}"
        ) from None
    except toml.TOMLDecodeError as error:
        raise ConfigError(f"{path}: TOML syntax error: {error}") from None
    try:
        return _parse(document, path.stem)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _parse(document: dict[str, Any], stem: str) -> SearchConfig:
    keys = [
        "experiment",
        "method",
        "trials",
        "seed",
        "score",
        "direction",
        "holdout",
        "epochs",
        "storage",
        "study_name",
        "space",
    ]
    check_keys(document, keys, "")
    for required in ("experiment", "space"):
        if required not in document:
            raise ConfigError(
                f"{required}: missing; a search file needs 'experiment' and a [space] table"
            )
    experiment_path = find_experiment(document["experiment"])
    base = toml.loads(experiment_path.read_text(encoding="utf-8"))
    method = document.get("method", "random")
    if method not in METHODS:
        raise ConfigError(
            f"method: expected one of {', '.join(METHODS)}{suggest(str(method), METHODS)}; got {method!r}"
        )
    trials = document.get("trials")
    if method != "grid" and (not isinstance(trials, int) or isinstance(trials, bool) or trials < 1):
        raise ConfigError(
            f"trials: a {method} search needs a positive number of trials; got {trials!r}"
        )
    direction = document.get(
        "direction", "minimize" if document.get("score", "").endswith("loss") else "maximize"
    )
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction: expected 'maximize' or 'minimize'; got {direction!r}")
    score = document.get("score", "val_accuracy")
    if not isinstance(score, str) or not score.startswith("val_"):
        raise ConfigError(
            f"score: expected a validation value such as 'val_accuracy' or 'val_loss'; got {score!r}"
        )
    holdout = document.get("holdout")
    if holdout is not None and (
        not isinstance(holdout, int) or isinstance(holdout, bool) or holdout < 1
    ):
        raise ConfigError(f"holdout: expected a positive number of images; got {holdout!r}")
    validation = base.get("data", {}).get("validation", "test")
    if validation == "test" and holdout is None:
        raise ConfigError(
            f"holdout: {document['experiment']!r} validates on the test set, and a search must "
            "not choose on the test set; set holdout = N to score trials on N training images held out"
        )
    space = {
        name: _distribution(value, f"space.{name}")
        for name, value in _table(document["space"], "space").items()
    }
    if not space:
        raise ConfigError('space: empty; name at least one key to search, e.g. "optimizer.lr"')
    search = SearchConfig(
        experiment=str(document["experiment"]),
        base=base,
        space=space,
        method=method,
        trials=trials,
        seed=int(document.get("seed", 0)),
        score=score,
        direction=direction,
        holdout=holdout,
        epochs=document.get("epochs"),
        storage=document.get("storage"),
        study_name=str(document.get("study_name", stem)),
    )
    for name in space:  # every path must exist in the experiment, and a sample must parse
        _assign(copy.deepcopy(base), name, None, check_only=True)
    return search


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a table; got {value!r}")
    return value


def _distribution(value: Any, path: str) -> Any:
    """A [space] entry as a chainrule.tune distribution, a list (grid/choice) or a fixed value."""
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{path}: an empty list has nothing to choose from")
        return value
    if not isinstance(value, dict):
        return value
    check_keys(value, DISTRIBUTIONS, path)
    if len(value) != 1:
        raise ConfigError(f"{path}: give exactly one of {', '.join(DISTRIBUTIONS)}")
    ((kind, args),) = value.items()
    if kind == "choice":
        return tune.Choice(args)
    if not isinstance(args, list) or len(args) != 2:
        raise ConfigError(f"{path}.{kind}: expected [low, high]; got {args!r}")
    low, high = args
    try:
        return {
            "uniform": lambda: tune.Uniform(low, high),
            "log_uniform": lambda: tune.LogUniform(low, high),
            "int_uniform": lambda: tune.IntUniform(low, high),
            "int_log_uniform": lambda: tune.IntUniform(low, high, log=True),
        }[kind]()
    except ValueError as error:
        raise ConfigError(f"{path}.{kind}: {error}") from None


def _assign(document: dict[str, Any], dotted: str, value: Any, check_only: bool = False) -> None:
    """Set ``document[a][b][2][c] = value`` for the dotted path ``a.b.2.c``."""
    parts = dotted.split(".")
    node: Any = document
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"space.{dotted}: {where!r}: expected a position below {len(node)}"
                )
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if key not in node and not last:
                raise ConfigError(
                    f"space.{dotted}: the experiment has no {where!r}{suggest(part, node)}"
                )
        else:
            raise ConfigError(
                f"space.{dotted}: {'.'.join(parts[:depth])!r} is a value, not a table or list"
            )
        if last:
            if not check_only:
                node[key] = value
            return
        node = node[key]


@dataclass
class ExperimentObjective:
    """``objective(params) -> score``: one trial (picklable, for worker processes)."""

    search: SearchConfig
    directory: str

    def config_for(self, params: dict[str, Any]) -> ExperimentConfig:
        document = copy.deepcopy(self.search.base)
        for name, value in params.items():
            _assign(document, name, value)
        if self.search.holdout is not None:
            document.setdefault("data", {})["validation"] = self.search.holdout
        if self.search.epochs is not None:
            document.setdefault("training", {})["epochs"] = self.search.epochs
        document["name"] = f"{document.get('name', 'experiment')}-trial"
        return parse_config(document)

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        config = self.config_for(params)
        trials = Path(self.directory) / "trials"
        trials.mkdir(parents=True, exist_ok=True)
        run_dir = tempfile.mkdtemp(dir=trials, prefix="trial-")  # unique across workers
        result = run_experiment(config, run_dir, verbose=0)
        history = result.histories[0]
        if self.search.score not in history:
            raise ConfigError(
                f"score: {self.search.score!r} was not logged; logged: {sorted(history.history)}"
            )
        values = [v for v in history[self.search.score] if not math.isnan(v)]
        best = max(values) if self.search.direction == "maximize" else min(values)
        return {"score": best, "epochs": len(history), "run_dir": run_dir}
