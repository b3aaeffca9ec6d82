"""Grid, random and Bayesian (TPE) search over a space, for ``objective(params) -> score``.

Grid and random search run in-process with no dependency; with a ``storage`` they run
as an Optuna study instead, which a later call continues and several processes can
share (see ``run_workers``). Bayesian search always uses Optuna's TPE sampler.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.backend import default_generator
from chainrule.checks import check_int
from chainrule.errors import ArgumentError
from chainrule.tune import study as studies
from chainrule.tune.result import SearchError, SearchResult, check_direction
from chainrule.tune.space import Choice, Distribution, check_space, grid, grid_values, sample
from chainrule.tune.trial import Objective, describe, run_trial


def _seed(seed: int | None) -> int:
    """The seed given, or one drawn from chainrule's generator (so manual_seed fixes it)."""
    if seed is None:
        return int(default_generator().integers(2**32))
    return check_int(seed, "seed", minimum=0)


def _check_objective(objective: object) -> Objective:
    if not callable(objective):
        raise ArgumentError(
            f"objective must be a function objective(params: dict) -> score; got {objective!r}"
        )
    return objective


def finish(result: SearchResult) -> SearchResult:
    """The result, unless no trial of the search completed."""
    if not result.completed:
        errors = [t.error for t in result.trials if t.error]
        first = f"; first error: {errors[0]}" if errors else ""
        error = SearchError(f"{result._summary()}: no trial completed{first}")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


def _run_local(
    objective: Objective,
    points: Iterable[dict[str, Any]],
    direction: str,
    method: str,
    verbose: int,
) -> SearchResult:
    trials = []
    for number, params in enumerate(points):
        trial = run_trial(objective, number, params)
        if verbose:
            print(describe(trial), flush=True)
        trials.append(trial)
    return finish(SearchResult(trials, direction, method))


def grid_search(
    objective: Objective,
    space: dict[str, Any],
    *,
    direction: str = "maximize",
    storage: Any = None,
    study_name: str | None = None,
    verbose: int = 1,
) -> SearchResult:
    """Every combination of the space's lists, ``Choice``s and ``IntUniform``s, once each.

    With ``storage`` (and ``study_name``) the grid is an Optuna study: a later call
    evaluates only the points not yet taken, and workers sharing it split the grid.
    """
    objective = _check_objective(objective)
    direction = check_direction(direction)
    space = check_space(space)
    values = grid_values(space)
    if storage is None:
        return _run_local(objective, grid(space), direction, "grid", verbose)
    optuna = studies.require_optuna("grid_search with a storage")
    grid_space = {
        name: Choice(values[name]) if isinstance(entry, Distribution) else entry
        for name, entry in space.items()
    }
    encoded = {
        name: studies.categorical_values(choice)
        for name, choice in grid_space.items()
        if isinstance(choice, Choice)
    }
    with studies.quiet(optuna):
        sampler = optuna.samplers.GridSampler(encoded, seed=0)
        study = studies.open_study(optuna, storage, study_name, direction, sampler)
        with studies.storage_errors(storage):
            studies.run_grid(optuna, study, objective, grid_space, verbose)
    return finish(studies.to_result(study, grid_space, "grid"))


def random_search(
    objective: Objective,
    space: dict[str, Any],
    n_trials: int,
    seed: int | None = None,
    *,
    direction: str = "maximize",
    storage: Any = None,
    study_name: str | None = None,
    verbose: int = 1,
) -> SearchResult:
    """``n_trials`` points drawn independently from the space.

    In-process the draws come from ``numpy.random.default_rng(seed)``: the same seed gives
    the same points. With ``storage`` trial k's point is drawn from (seed, k), so workers
    sharing a study draw different points even from one seed, and a point another
    trial already holds is skipped (recorded as pruned).
    """
    objective = _check_objective(objective)
    direction = check_direction(direction)
    space = check_space(space)
    n_trials = check_int(n_trials, "n_trials")
    seed = _seed(seed)
    if storage is None:
        rng = np.random.default_rng(seed)
        points = (sample(space, rng) for _ in range(n_trials))
        return _run_local(objective, points, direction, "random", verbose)
    optuna = studies.require_optuna("random_search with a storage")
    return _run_study(
        optuna,
        objective,
        space,
        lambda seed: studies.trial_seeded_sampler(optuna, seed),
        seed=seed,
        n_trials=n_trials,
        direction=direction,
        storage=storage,
        study_name=study_name,
        method="random",
        verbose=verbose,
    )


def bayesian_search(
    objective: Objective,
    space: dict[str, Any],
    n_trials: int,
    seed: int | None = None,
    *,
    direction: str = "maximize",
    storage: Any = None,
    study_name: str | None = None,
    n_jobs: int = 1,
    verbose: int = 1,
) -> SearchResult:
    """``n_trials`` points chosen by Optuna's TPE sampler from the trials so far.

    ``n_jobs`` runs trials in threads of this process; for processes (or machines) share
    a ``storage`` between workers. With a storage each worker's sampler also draws on a
    token of its own, so workers started with one seed do not propose the same points
    (and a shared search is not reproducible from the seed); a point an earlier trial
    holds is skipped, recorded as pruned.
    """
    objective = _check_objective(objective)
    direction = check_direction(direction)
    space = check_space(space)
    n_trials = check_int(n_trials, "n_trials")
    if n_jobs != -1:
        n_jobs = check_int(n_jobs, "n_jobs")
    seed = _seed(seed)
    optuna = studies.require_optuna("bayesian_search")
    return _run_study(
        optuna,
        objective,
        space,
        # constant_liar: running trials count as bad guesses, so parallel workers spread out.
        lambda seed: optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        seed=seed,
        n_trials=n_trials,
        n_jobs=n_jobs,
        direction=direction,
        storage=storage,
        study_name=study_name,
        method="bayesian",
        verbose=verbose,
    )


def _run_study(
    optuna: Any,
    objective: Objective,
    space: dict[str, Any],
    make_sampler: Callable[[int], Any],
    *,
    seed: int,
    n_trials: int,
    direction: str,
    storage: Any,
    study_name: str | None,
    method: str,
    verbose: int,
    n_jobs: int = 1,
) -> SearchResult:
    with studies.quiet(optuna):  # also hides the ExperimentalWarning of Optuna 3 samplers
        study = studies.open_study(optuna, storage, study_name, direction, sampler=None)
        # NOTE: a continued study must not replay the points its first call drew from the
        # same seed, so the sampler's seed also depends on how many trials it already has;
        # and workers started together (same seed, same count) each need their own stream:
        # the random sampler seeds every trial by its unique number, the others get a
        # token of this worker's own (a shared search is not reproducible anyway).
        done = len(study.get_trials(deepcopy=False))
        entropy = [seed] if method == "random" else [seed, done]
        if storage is not None and method != "random":
            entropy.append(uuid.uuid4().int >> 64)
        study.sampler = make_sampler(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
        # a shared study trains each configuration once, whichever worker drew it first
        repeated = (
            functools.partial(studies.skip_repeated_configuration, optuna, study)
            if storage is not None
            else None
        )
        studies.optimize(
            study,
            studies.optuna_objective(objective, space, verbose, before=repeated),
            n_trials,
            n_jobs,
            storage,
        )
    return finish(studies.to_result(study, space, method))
