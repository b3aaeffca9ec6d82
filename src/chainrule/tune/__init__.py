"""Hyperparameter search: grid, random and Bayesian (TPE) search over a space.

    space = {"optimizer.lr": LogUniform(1e-4, 1e-1), "hidden": [32, 64, 128], "epochs": 10}
    result = random_search(objective, space, n_trials=20, seed=0)  # objective(params) -> score
    print(result); result.best_params

Grid and random search need nothing beyond NumPy; Bayesian search, and any search kept
in a storage (to continue later or to share between worker processes), needs Optuna,
imported only then: ``pip install "chainrule[tune]"``.
"""

from chainrule.tune.result import SearchError, SearchResult
from chainrule.tune.search import bayesian_search, grid_search, random_search
from chainrule.tune.space import Choice, Distribution, IntUniform, LogUniform, Uniform
from chainrule.tune.study import load_search
from chainrule.tune.trial import Trial
from chainrule.tune.workers import run_workers

__all__ = [
    "Choice",
    "Distribution",
    "IntUniform",
    "LogUniform",
    "SearchError",
    "SearchResult",
    "Trial",
    "Uniform",
    "bayesian_search",
    "grid_search",
    "load_search",
    "random_search",
    "run_workers",
]
