"""Several processes on one stored study: ``run_workers(4, "bayesian", objective, space, ...)``.

Each worker is a fresh Python process (multiprocessing's "spawn") that calls the search
with the same ``storage`` and ``study_name``; trials are handed out and recorded through
the storage, so none is lost or run twice. The objective must be importable by the
workers: a function defined at module level, and the calling script guarded by
``if __name__ == "__main__":``.

The same works across machines or job-scheduler tasks, one command per worker::

    # worker.py, started N times (seed differs per worker; a journal file suits NFS)
    bayesian_search(objective, space, n_trials=20, seed=int(sys.argv[1]),
                    storage="sqlite:///study.db", study_name="mlp-lr")

Create the study once before starting them (``run_workers`` does), e.g. by running
one worker first, so that they do not race to create it.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from typing import Any

from chainrule.checks import check_int
from chainrule.errors import ArgumentError
from chainrule.tune import search as searches
from chainrule.tune import study as studies
from chainrule.tune.result import SearchError, SearchResult, check_direction
from chainrule.tune.space import check_space

SEARCHES: dict[str, Callable[..., SearchResult]] = {
    "grid": searches.grid_search,
    "random": searches.random_search,
    "bayesian": searches.bayesian_search,
}


def _work(
    search: Callable[..., SearchResult], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    search(*args, **kwargs)


def run_workers(
    n_workers: int,
    search: str | Callable[..., SearchResult],
    objective: Callable[[dict[str, Any]], Any],
    space: dict[str, Any],
    *,
    storage: str,
    study_name: str,
    n_trials: int | None = None,
    seed: int | None = None,
    direction: str = "maximize",
    verbose: int = 0,
) -> SearchResult:
    """Run ``search`` ("grid", "random", "bayesian" or one of the search functions) in
    ``n_workers`` processes on one stored study; every trial of the study, once they end.

    ``n_trials`` is per worker (grid search splits its grid instead); worker i gets
    ``seed + i``, or a seed of its own when ``seed`` is None.
    """
    search_fn = SEARCHES.get(search, search) if isinstance(search, str) else search
    if search_fn not in SEARCHES.values():
        raise ArgumentError(f"search must be one of {sorted(SEARCHES)}; got {search!r}")
    n_workers = check_int(n_workers, "n_workers")
    direction = check_direction(direction)
    space = check_space(space)
    if search_fn is searches.grid_search:
        if n_trials is not None:
            raise ArgumentError("grid search splits its grid among the workers; drop n_trials")
    else:
        n_trials = check_int(n_trials, "n_trials")
    if not isinstance(storage, str) or not study_name:
        raise ArgumentError(
            "run_workers needs a storage the processes can share (a database URL such as "
            "'sqlite:///study.db' or a journal file path) and a study_name; "
            f"got storage={storage!r}, study_name={study_name!r}"
        )
    try:
        pickle.dumps(objective)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ArgumentError(
            "run_workers needs an objective the worker processes can import: a function "
            f"defined at module level, not a lambda or a nested function ({error})"
        ) from None
    optuna = studies.require_optuna("run_workers")
    with studies.quiet(optuna):
        studies.open_study(optuna, storage, study_name, direction, sampler=None)

    context = multiprocessing.get_context("spawn")
    processes = []
    try:
        for worker in range(n_workers):
            args: tuple[Any, ...] = (objective, space)
            if search_fn is not searches.grid_search:
                args += (n_trials, None if seed is None else seed + worker)
            kwargs = {
                "direction": direction,
                "storage": storage,
                "study_name": study_name,
                "verbose": verbose,
            }
            process = context.Process(target=_work, args=(search_fn, args, kwargs))
            process.start()
            processes.append(process)
        for process in processes:
            process.join()
    finally:
        for process in processes:  # only if interrupted: stop the workers with us
            if process.is_alive():
                process.terminate()
                process.join()
    failed = {i: p.exitcode for i, p in enumerate(processes) if p.exitcode != 0}
    if failed:
        raise SearchError(
            f"{len(failed)} of {n_workers} workers on study {study_name!r} failed "
            f"(worker: exit code {failed}); their errors are on stderr"
        )
    stored = studies.load_search(storage, study_name, space)
    method = search_fn.__name__.removesuffix("_search")
    return searches.finish(SearchResult(stored.trials, direction, method, study_name))
