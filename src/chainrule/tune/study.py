"""Searches run as Optuna studies: storage, our distributions as ``trial.suggest_*``,
and stored trials back as ``Trial`` records.

A study in a storage (an SQLite or other database URL, or a journal file) outlives the
process: a later call with the same ``study_name`` continues it, and several processes
can work on it at once, each trial handed out and recorded through the storage.
Optuna is imported here only, when a search needs it: ``pip install "chainrule[tune]"``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import math
import os
import random
import re
import time
import types
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, ArgumentTypeError, ChainruleError
from chainrule.tune.result import SearchResult, StorageError
from chainrule.tune.space import (
    Choice,
    Distribution,
    IntUniform,
    LogUniform,
    Uniform,
    check_space,
    fixed,
    searched,
)
from chainrule.tune.trial import Objective, Trial, call_objective, describe

_STATES = {"FAIL": "failed"}  # the others by their Optuna name: complete, running, pruned
_CATEGORICAL_TYPES = (str, int, float, bool, type(None))


def require_optuna(feature: str) -> types.ModuleType:
    """Import Optuna for ``feature``, or say how to install it."""
    try:
        return importlib.import_module("optuna")
    except ImportError as error:
        raise ImportError(
            f"{feature} needs Optuna, which is not installed; "
            'install it with pip install "chainrule[tune]"'
        ) from error


def storage_backend(optuna: types.ModuleType, storage: Any) -> Any:
    """An Optuna storage for a database URL (``sqlite:///study.db``), a journal file path,
    or an Optuna storage object."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if isinstance(storage, str) and "://" in storage:
        # NOTE: SQLite's default 5 s lock timeout is short for several busy workers.
        engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
        return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
    if isinstance(storage, str | os.PathLike):
        try:
            from optuna.storages.journal import JournalFileBackend  # optional: optuna
        except ImportError:  # Optuna < 4 names it JournalFileStorage
            from optuna.storages import JournalFileStorage as JournalFileBackend  # optional: optuna
        return optuna.storages.JournalStorage(JournalFileBackend(os.fspath(storage)))
    raise ArgumentTypeError(
        "storage must be a database URL ('sqlite:///study.db'), a journal file path or an "
        f"Optuna storage; got {type(storage).__name__}"
    )


# workers started together on a new storage race to create its tables and the study:
# the losers retry, after a random pause that doubles each time (0.05 s up to ~6 s)
CREATE_ATTEMPTS = 8
CREATE_PAUSE = 0.05


def _describe(storage: Any) -> str:
    """The storage, as a user named it, without a password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(storage))


@contextlib.contextmanager
def storage_errors(storage: Any) -> Iterator[None]:
    """Turn a database's or a journal's own exception (80 lines of SQLAlchemy traceback)
    into one ``StorageError`` line naming the storage."""
    try:
        yield
    except (ChainruleError, KeyboardInterrupt):
        raise
    except Exception as error:
        if not _is_storage_error(error):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise StorageError(
            f"storage {_describe(storage)}: {type(error).__name__}: {first[:300]}"
        ) from error


_RACE_SIGNS = ("already exists", "unique constraint", "duplicate key", "locked", "integrity")


def _lost_a_race(error: StorageError) -> bool:
    """Whether another worker creating the same tables or study got there first (worth a
    retry), rather than a storage that cannot be used at all."""
    cause = error.__cause__
    text = f"{type(cause).__name__} {cause}".lower()
    return type(cause).__name__ == "DuplicatedStudyError" or any(s in text for s in _RACE_SIGNS)


def _is_storage_error(error: BaseException) -> bool:
    module = type(error).__module__ or ""
    return module.startswith(("sqlalchemy", "optuna.storages", "psycopg", "sqlite3")) or (
        type(error).__name__ in ("StorageInternalError", "DuplicatedStudyError")
    )


def open_study(
    optuna: types.ModuleType, storage: Any, study_name: str | None, direction: str, sampler: Any
) -> Any:
    """Create the study, or load it if the storage already holds one of that name; safe
    when several workers do so at once (create-or-load, retried)."""
    if storage is not None and not study_name:
        raise ArgumentError(
            "a search with a storage needs a study_name, so that the study can be found again"
        )
    rng = random.Random()  # pauses differ between workers, so they stop colliding
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with storage_errors(storage):
                study = optuna.create_study(
                    storage=storage_backend(optuna, storage),
                    sampler=sampler,
                    study_name=study_name,
                    direction=direction,
                    load_if_exists=storage is not None,
                )
            break
        except StorageError as error:
            if storage is None or attempt == CREATE_ATTEMPTS - 1 or not _lost_a_race(error):
                raise
            time.sleep(CREATE_PAUSE * 2**attempt * (0.5 + rng.random()))
    stored = study.direction.name.lower()
    if stored != direction:
        raise ArgumentError(
            f"study {study_name!r} in {storage} was created to {stored} its score; "
            f"got direction={direction!r}"
        )
    return study


@contextlib.contextmanager
def quiet(optuna: types.ModuleType) -> Iterator[None]:
    """Silence Optuna's per-trial log lines (our trials report themselves)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _indexed(choice: Choice) -> bool:
    """Options Optuna cannot store (tuples, objects) are suggested by their index."""
    return not all(isinstance(option, _CATEGORICAL_TYPES) for option in choice.options)


def categorical_values(choice: Choice) -> list[Any]:
    return list(range(len(choice.options))) if _indexed(choice) else list(choice.options)


def _suggest(trial: Any, name: str, distribution: Distribution) -> Any:
    if isinstance(distribution, Uniform | LogUniform):
        log = isinstance(distribution, LogUniform)
        return trial.suggest_float(name, distribution.low, distribution.high, log=log)
    if isinstance(distribution, IntUniform):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    if isinstance(distribution, Choice):
        value = trial.suggest_categorical(name, categorical_values(distribution))
        return distribution.options[value] if _indexed(distribution) else value
    raise ArgumentError(f"search space: {name!r} is {distribution!r}, which Optuna cannot sample")


def trial_seeded_sampler(optuna: types.ModuleType, seed: int) -> Any:
    """A random sampler whose draws for trial k depend on (seed, k, parameter) alone: the
    storage numbers trials uniquely, so workers started with the same seed still draw
    different configurations, and trial k of a study is the same whoever runs it."""

    class TrialSeededSampler(optuna.samplers.BaseSampler):
        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
            stream = np.random.SeedSequence([seed, trial.number, zlib.crc32(name.encode())])
            draw = optuna.samplers.RandomSampler(seed=int(stream.generate_state(1)[0]))
            return draw.sample_independent(study, trial, name, distribution)

    return TrialSeededSampler()


def skip_repeated_configuration(optuna: types.ModuleType, study: Any, trial: Any) -> None:
    """Prune ``trial`` when an earlier-numbered trial (finished, failed or still running,
    from any worker) holds the same configuration: each configuration is trained once."""
    state = optuna.trial.TrialState
    for other in study.get_trials(
        deepcopy=False, states=(state.COMPLETE, state.FAIL, state.RUNNING)
    ):
        if other.number < trial.number and other.params == trial.params and not _stopped(other):
            message = f"configuration already taken by trial {other.number}"
            trial.set_user_attr("error", message)
            raise optuna.TrialPruned(message)


class _TrialFailed(Exception):
    """Tells Optuna a trial failed; the reason is already in its user attrs."""


def optuna_objective(
    objective: Objective,
    space: Mapping[str, Any],
    verbose: int,
    before: Callable[[Any], None] | None = None,
) -> Any:
    """Our objective as Optuna's: suggest the params, call, record extras and errors.

    ``before(trial)``, if given, runs once the params are suggested and may skip the trial
    by raising ``optuna.TrialPruned``.
    """
    distributions = searched(space)

    def run(trial: Any) -> float:
        params = {
            name: _suggest(trial, name, distributions[name]) if name in distributions else value
            for name, value in space.items()
        }
        if before is not None:
            before(trial)
        start = time.perf_counter()
        score, extras, error = call_objective(objective, params)
        duration = time.perf_counter() - start
        trial.set_user_attr("extras", _json_safe(extras))
        trial.set_user_attr("duration", duration)
        if error is not None:
            trial.set_user_attr("error", error)
        if verbose:
            state = "complete" if error is None else "failed"
            record = Trial(trial.number, params, score, state, duration, extras, error)
            print(describe(record), flush=True)
        if error is not None:
            raise _TrialFailed(error)
        return score

    return run


def optimize(
    study: Any, objective: Any, n_trials: int, n_jobs: int = 1, storage: Any = None
) -> None:
    """Run ``n_trials`` more trials; a failed trial is recorded and the study goes on."""
    with storage_errors(storage if storage is not None else f"of study {study.study_name!r}"):
        study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs, catch=(_TrialFailed,))


def _stopped(trial: Any) -> bool:
    """A trial that failed without our record of why: interrupted (KeyboardInterrupt)."""
    return trial.state.name == "FAIL" and "error" not in trial.user_attrs


def run_grid(
    optuna: types.ModuleType,
    study: Any,
    objective: Any,
    grid_space: Mapping[str, Any],
    verbose: int,
) -> None:
    """Evaluate each grid point no trial of the study has taken (from any call or worker).

    Optuna's GridSampler gives trial k the k-th point, so concurrent workers never share
    one; a later trial (numbered past the grid) is handed a point some trial k already
    owns, and is skipped and recorded as pruned unless trial k was interrupted. Points whose trial was interrupted are
    run again at the end. A point whose worker was killed stays taken (its trial stays
    "running" in the storage).
    """
    choices = searched(grid_space)
    names = list(choices)
    points = set(itertools.product(*(categorical_values(c) for c in choices.values())))
    state = optuna.trial.TrialState

    def taken(but: int = -1, counting_stopped: bool = True) -> dict[tuple[Any, ...], int]:
        """Grid point -> number of a trial (other than ``but``) that took it."""
        return {
            tuple(t.params[name] for name in names): t.number
            for t in study.get_trials(
                deepcopy=False, states=(state.COMPLETE, state.FAIL, state.RUNNING)
            )
            if t.number != but
            and set(names) <= t.params.keys()
            and (counting_stopped or not _stopped(t))
        }

    def skip_taken_point(trial: Any) -> None:
        if trial.number < len(points):
            return
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        grid_id = trials[trial.number].system_attrs.get("grid_id")
        if grid_id is not None and grid_id in trials:
            # The sampler's point k belongs to trial k from that trial's creation, params
            # or not yet: asking the trials' params instead left a window in which two
            # workers ran one point (its owner had not suggested its params yet).
            owner = None if _stopped(trials[grid_id]) else grid_id
        else:  # a point asked for by name (enqueued): whoever holds it
            point = tuple(trial.params[name] for name in names)
            owner = taken(but=trial.number, counting_stopped=False).get(point)
        if owner is not None:
            message = f"grid point already taken by trial {owner}"
            trial.set_user_attr("error", message)
            raise optuna.TrialPruned(message)

    def stop_when_all_taken(study: Any, trial: Any) -> None:
        if points <= taken().keys():
            study.stop()

    run = optuna_objective(objective, grid_space, verbose, before=skip_taken_point)
    if points - taken().keys():
        study.optimize(
            run, n_trials=len(points), catch=(_TrialFailed,), callbacks=[stop_when_all_taken]
        )
    # NOTE: GridSampler counts an interrupted point as visited and would never hand it out
    # again, so those are asked for by name, with a sampler that has no grid to keep.
    study.sampler = optuna.samplers.RandomSampler()
    for point in points - taken(counting_stopped=False).keys():
        study.enqueue_trial(dict(zip(names, point)))
        trial = study.ask()
        try:
            study.tell(trial, run(trial))
        except _TrialFailed:
            study.tell(trial, state=state.FAIL)
        except optuna.TrialPruned:
            study.tell(trial, state=state.PRUNED)
        except BaseException:
            study.tell(trial, state=state.FAIL)
            raise


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """Extras as a storage can keep them: JSON values, anything else as its text."""
    safe = {}
    for key, value in values.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            value = str(value)
        safe[key] = value
    return safe


def to_result(study: Any, space: Mapping[str, Any] | None, method: str) -> SearchResult:
    """Every trial of the study (from all calls and workers) as a ``SearchResult``."""
    distributions = searched(space) if space is not None else {}
    constants = fixed(space) if space is not None else {}
    trials = []
    for frozen in study.get_trials(deepcopy=False):
        params = dict(frozen.params)
        for name, value in params.items():
            choice = distributions.get(name)
            if isinstance(choice, Choice) and _indexed(choice):
                params[name] = choice.options[value]
        if space is not None:
            params = {name: params.get(name, constants.get(name)) for name in space}
        state = _STATES.get(frozen.state.name, frozen.state.name.lower())
        duration = frozen.user_attrs.get("duration", math.nan)  # the objective's own time
        trials.append(
            Trial(
                number=frozen.number,
                params=params,
                score=float(frozen.value) if state == "complete" else math.nan,
                state=state,
                duration=duration,
                extras=dict(frozen.user_attrs.get("extras", {})),
                error="stopped before it finished"
                if _stopped(frozen)
                else frozen.user_attrs.get("error"),
            )
        )
    return SearchResult(trials, study.direction.name.lower(), method, study.study_name)


def load_search(
    storage: Any, study_name: str, space: Mapping[str, Any] | None = None
) -> SearchResult:
    """The trials of a stored study so far; ``space`` (as searched) restores fixed values and
    options suggested by index (tuples, objects)."""
    optuna = require_optuna("load_search")
    with quiet(optuna):
        study = optuna.load_study(study_name=study_name, storage=storage_backend(optuna, storage))
    return to_result(study, None if space is None else check_space(space), "stored")
