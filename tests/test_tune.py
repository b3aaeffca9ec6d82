"""Hyperparameter search: grids are covered once, random draws are seeded and follow their
distributions, TPE finds optima, failures are data, stored studies continue and are shared."""

import itertools
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.train import fit
from chainrule.tune import (
    Choice,
    IntUniform,
    LogUniform,
    SearchError,
    Uniform,
    bayesian_search,
    grid_search,
    load_search,
    random_search,
    run_workers,
)


def bowl(params):
    """Best (score 0) at x = 2, lr = 1e-3."""
    return -((params["x"] - 2) ** 2) - (math.log10(params["lr"]) + 3) ** 2


BOWL_SPACE = {"x": Uniform(-5, 5), "lr": LogUniform(1e-6, 1.0)}


def shared_bowl(params):
    """The bowl as a worker process runs it: once both workers have reached a trial (they
    meet through files in params["rendezvous"]), so that they surely work at the same time;
    says who ran it and when."""
    folder = Path(params["rendezvous"])
    start = time.time()
    (folder / str(os.getpid())).touch()
    while len(list(folder.iterdir())) < 2 and time.time() < start + 60:
        time.sleep(0.01)
    return {"score": bowl(params), "pid": os.getpid(), "start": start, "end": time.time()}


@pytest.fixture
def db_dir(tmp_path):
    """A folder for study databases: in memory (/dev/shm) where there is one, since every
    SQLite commit waits for the disk."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    folder = tempfile.mkdtemp(dir="/dev/shm", prefix="chainrule-tune-")
    yield Path(folder)
    shutil.rmtree(folder)


# ------------------------------------------------------------------- spaces
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Uniform(1.0, 1.0), "low must be less than high"),
        (lambda: Uniform(2.0, 1.0), "low must be less than high"),
        (lambda: LogUniform(0.0, 1.0), "low must be positive"),
        (lambda: LogUniform(-1e-3, 1.0), "low must be positive"),
        (lambda: IntUniform(5, 5), "low must be less than high"),
        (lambda: IntUniform(0, 8, log=True), "at least 1 on a log scale"),
        (lambda: Choice([]), "at least one option"),
        (lambda: Uniform(0.0, math.inf), "must be finite"),
    ],
)
def test_invalid_distributions_are_refused_with_their_values(make, match):
    with pytest.raises(ArgumentError, match=match):
        make()


def test_distribution_arguments_of_the_wrong_type_are_refused():
    with pytest.raises(ArgumentTypeError, match="integer"):
        IntUniform(1.5, 3)
    with pytest.raises(ArgumentTypeError, match="number"):
        Uniform("0", 1)
    with pytest.raises(ArgumentTypeError, match="list of options"):
        Choice("abc")


def test_grid_search_refuses_continuous_distributions_and_empty_lists():
    with pytest.raises(ArgumentError, match="'lr' is LogUniform"):
        grid_search(bowl, {"lr": LogUniform(1e-4, 1e-1)}, verbose=0)
    with pytest.raises(ArgumentError, match="'hidden' is an empty list"):
        grid_search(bowl, {"hidden": []}, verbose=0)


# ------------------------------------------------------------------- grid
def test_grid_search_evaluates_every_combination_exactly_once():
    seen = []

    def objective(params):
        seen.append(params)
        return params["optimizer.lr"] * params["hidden"]

    space = {
        "optimizer.lr": [0.1, 0.01, 0.001],
        "hidden": IntUniform(1, 3),
        "act": Choice(["relu", "tanh"]),
        "layers": (64, 32),  # a tuple is a fixed value
    }
    result = grid_search(objective, space, verbose=0)
    expected = list(itertools.product([0.1, 0.01, 0.001], [1, 2, 3], ["relu", "tanh"]))
    got = [(p["optimizer.lr"], p["hidden"], p["act"]) for p in seen]
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got)) == 18
    assert all(p["layers"] == (64, 32) for p in seen)
    assert len(result) == 18
    assert result.best_params["optimizer.lr"] == 0.1 and result.best_params["hidden"] == 3


# ------------------------------------------------------------------- random
def test_random_search_is_reproducible_by_seed():
    space = {"x": Uniform(-1, 1), "lr": LogUniform(1e-5, 1e-1), "k": IntUniform(1, 100)}
    params = [
        [t.params for t in random_search(lambda p: 0.0, space, 5, seed=s, verbose=0).trials]
        for s in (7, 7, 8)
    ]
    assert params[0] == params[1]
    assert params[0] != params[2]


def test_random_search_respects_bounds_and_scales():
    space = {
        "x": Uniform(-3.0, 5.0),
        "lr": LogUniform(1e-5, 1e-1),
        "units": IntUniform(1, 1000, log=True),
        "depth": IntUniform(2, 4),
        "act": ["relu", "tanh"],
    }
    result = random_search(lambda p: 0.0, space, 2000, seed=0, verbose=0)
    x = np.array([t.params["x"] for t in result])
    lr = np.array([t.params["lr"] for t in result])
    units = np.array([t.params["units"] for t in result])
    depth = [t.params["depth"] for t in result]
    assert x.min() >= -3.0 and x.max() <= 5.0 and abs(x.mean() - 1.0) < 0.2
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    # log-uniform: each decade equally likely, so about half the draws lie below 1e-3
    # (a linear scale would put 1% there)
    assert 0.45 < (lr < 1e-3).mean() < 0.55
    assert units.min() >= 1 and units.max() <= 1000 and units.dtype.kind == "i"
    # log scale: P(units <= 10) = log(10.5 / 0.5) / log(1000.5 / 0.5) = 0.40 (linear: 0.01)
    assert 0.35 < (units <= 10).mean() < 0.45
    assert sorted(set(depth)) == [2, 3, 4]
    assert {t.params["act"] for t in result} == {"relu", "tanh"}


def test_random_search_without_seed_follows_chainrule_manual_seed():
    runs = []
    for _ in range(2):
        cr.manual_seed(3)
        runs.append([t.params for t in random_search(lambda p: 0.0, BOWL_SPACE, 3, verbose=0)])
    assert runs[0] == runs[1]


# ------------------------------------------------------------------- bayesian
def test_bayesian_search_finds_the_optimum_of_an_analytic_objective():
    result = bayesian_search(bowl, BOWL_SPACE, n_trials=60, seed=0, verbose=0)
    random = random_search(bowl, BOWL_SPACE, n_trials=60, seed=0, verbose=0)
    assert result.best_score > -0.1
    assert abs(result.best_params["x"] - 2) < 0.3
    assert abs(math.log10(result.best_params["lr"]) + 3) < 0.3
    assert result.best_score > random.best_score


def test_bayesian_search_samples_ints_and_choices_of_any_kind():
    space = {"units": IntUniform(8, 64, log=True), "layers": Choice([(32,), (64, 32)]), "p": 0.5}
    seen = []

    def objective(params):
        seen.append(params)
        return len(params["layers"]) + params["units"] / 64

    result = bayesian_search(objective, space, n_trials=15, seed=1, verbose=0)
    assert all(isinstance(p["units"], int) and 8 <= p["units"] <= 64 for p in seen)
    assert {p["layers"] for p in seen} <= {(32,), (64, 32)}
    assert all(p["p"] == 0.5 for p in seen)
    assert result.best_params["layers"] == (64, 32)
    assert [t.params for t in result] == seen


def test_minimize_ranks_the_lowest_score_first():
    result = grid_search(
        lambda p: (p["x"] - 1) ** 2, {"x": [0, 1, 2, 3]}, direction="minimize", verbose=0
    )
    assert [t.params["x"] for t in result.ranked()] == [1, 0, 2, 3]
    assert result.best_score == 0 and result.best_params == {"x": 1}
    with pytest.raises(ArgumentError, match="direction must be"):
        grid_search(bowl, {"x": [1]}, direction="max", verbose=0)


# ------------------------------------------------------------------- results
def test_result_table_and_csv_list_trials_best_first():
    def objective(params):
        return {"score": -abs(params["x"] - 2), "train_acc": params["x"] / 10}

    result = grid_search(objective, {"x": [0, 1, 2, 3, 4], "tag": "demo"}, verbose=0)
    text = str(result)
    lines = text.splitlines()
    assert "5 trials" in lines[0] and "best score 0" in lines[0]
    assert lines[1].split() == ["rank", "trial", "score", "x", "tag", "train_acc", "time", "state"]
    assert lines[2].split()[:4] == ["1", "2", "0", "2"]  # rank 1 is trial 2 (x = 2)
    rows = result.to_csv().splitlines()
    assert rows[0] == "number,state,score,x,tag,train_acc,duration,error"
    assert [row.split(",")[0] for row in rows[1:]] == ["2", "1", "3", "0", "4"]
    assert rows[1].startswith("2,complete,0.0,2,demo,0.2,")


def test_to_csv_writes_the_table_to_a_file(tmp_path):
    result = grid_search(lambda p: p["x"], {"x": [1, 2]}, verbose=0)
    path = tmp_path / "trials.csv"
    assert result.to_csv(path) == path.read_text()


def test_failing_trials_are_recorded_and_the_search_goes_on():
    def objective(params):
        if params["x"] == 1:
            raise ValueError("diverged at lr=1")
        if params["x"] == 2:
            return math.nan
        if params["x"] == 3:
            return {"accuracy": 0.5}
        return params["x"]

    result = grid_search(objective, {"x": [0, 1, 2, 3, 4]}, verbose=0)
    states = {t.params["x"]: (t.state, t.error) for t in result}
    assert states[0] == states[4] == ("complete", None)
    assert states[1] == ("failed", "ValueError: diverged at lr=1")
    assert states[2] == ("failed", "the score is NaN")
    assert states[3][0] == "failed" and "without a 'score'" in states[3][1]
    assert result.best_params == {"x": 4}
    assert [t.state for t in result.ranked()] == ["complete"] * 2 + ["failed"] * 3
    assert "failed: ValueError: diverged at lr=1" in str(result)


def test_a_search_whose_trials_all_fail_raises_with_the_first_error():
    def objective(params):
        raise RuntimeError("out of memory")

    with pytest.raises(
        SearchError, match="no trial completed; first error: RuntimeError: out of memory"
    ) as info:
        random_search(objective, BOWL_SPACE, 3, seed=0, verbose=0)
    assert len(info.value.result.failed) == 3


def test_failing_trials_in_bayesian_search_do_not_stop_the_study():
    def objective(params):
        if params["x"] > 3:
            raise ValueError("unstable")
        return bowl(params)

    result = bayesian_search(objective, BOWL_SPACE, n_trials=20, seed=0, verbose=0)
    assert len(result) == 20
    assert result.failed and all(t.error == "ValueError: unstable" for t in result.failed)
    assert all(t.params["x"] > 3 for t in result.failed)


# ------------------------------------------------------------------- storage
def test_a_sqlite_study_is_continued_by_a_second_call(db_dir):
    storage = f"sqlite:///{db_dir / 'study.db'}"
    first = bayesian_search(bowl, BOWL_SPACE, 6, seed=0, storage=storage, study_name="s", verbose=0)
    second = bayesian_search(
        bowl, BOWL_SPACE, 4, seed=0, storage=storage, study_name="s", verbose=0
    )
    assert len(first) == 6 and len(second) == 10
    assert [t.number for t in second] == list(range(10))
    assert [t.params for t in second][:6] == [t.params for t in first]
    # the same seed must not replay the first call's draws
    assert len({t.params["x"] for t in second}) == 10
    assert second.best_score >= first.best_score
    assert len(load_search(storage, "s")) == 10
    with pytest.raises(ArgumentError, match="created to maximize"):
        bayesian_search(bowl, BOWL_SPACE, 1, storage=storage, study_name="s", direction="minimize")
    with pytest.raises(ArgumentError, match="needs a study_name"):
        random_search(bowl, BOWL_SPACE, 1, storage=storage)


def test_random_search_in_a_journal_file_is_continued(db_dir):
    path = db_dir / "study.journal"
    random_search(bowl, BOWL_SPACE, 3, seed=0, storage=path, study_name="j", verbose=0)
    result = random_search(bowl, BOWL_SPACE, 2, seed=0, storage=path, study_name="j", verbose=0)
    assert [t.number for t in result] == [0, 1, 2, 3, 4]
    assert result.method == "random" and result.study_name == "j"


def test_a_stored_grid_continues_where_it_was_interrupted(db_dir):
    storage = f"sqlite:///{db_dir / 'grid.db'}"
    space = {"a": [1, 2, 3], "b": ["x", (1, 2)]}  # a tuple option is stored by its index
    calls = []

    def interrupted(params):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(params)
        return params["a"]

    with pytest.raises(KeyboardInterrupt):
        grid_search(interrupted, space, storage=storage, study_name="g", verbose=0)
    stopped = load_search(storage, "g", space).trials[-1]
    assert stopped.state == "failed" and stopped.error == "stopped before it finished"

    def objective(params):
        calls.append(params)
        return params["a"]

    result = grid_search(objective, space, storage=storage, study_name="g", verbose=0)
    points = [(p["a"], p["b"]) for p in calls]
    assert sorted(points, key=repr) == sorted(itertools.product([1, 2, 3], ["x", (1, 2)]), key=repr)
    assert len(result) == 7 and len(result.completed) == 6  # the stopped point was run again
    assert result.best_params["a"] == 3
    again = grid_search(objective, space, storage=storage, study_name="g", verbose=0)
    assert len(again) == 7 and len(calls) == 6  # a finished grid runs nothing more


def test_two_worker_processes_share_one_sqlite_study(db_dir, tmp_path):
    storage = f"sqlite:///{db_dir / 'shared.db'}"
    space = {**BOWL_SPACE, "rendezvous": str(tmp_path)}
    result = run_workers(
        2, "bayesian", shared_bowl, space, storage=storage, study_name="w", n_trials=8, seed=0
    )
    assert len(result) == 16 and len(result.completed) == 16
    assert sorted(t.number for t in result) == list(range(16))
    assert len({(t.params["x"], t.params["lr"]) for t in result}) == 16
    pids = {t.extras["pid"] for t in result}
    assert len(pids) == 2 and os.getpid() not in pids
    spans = [
        (min(t.extras["start"] for t in mine), max(t.extras["end"] for t in mine))
        for mine in ([t for t in result if t.extras["pid"] == pid] for pid in pids)
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # at the same time


def test_two_worker_processes_split_a_stored_grid(db_dir, tmp_path):
    storage = f"sqlite:///{db_dir / 'grid.db'}"
    space = {"x": [-1.0, 0.0, 1.0, 2.0, 3.0], "lr": [1e-4, 1e-3, 1e-2], "rendezvous": str(tmp_path)}
    result = run_workers(2, "grid", shared_bowl, space, storage=storage, study_name="g")
    points = [(t.params["x"], t.params["lr"]) for t in result.completed]
    assert sorted(points) == sorted(itertools.product(space["x"], space["lr"]))
    assert len({t.extras["pid"] for t in result.completed}) == 2
    assert (result.best_params["x"], result.best_params["lr"]) == (2.0, 1e-3)


def test_run_workers_refuses_what_processes_cannot_share():
    with pytest.raises(ArgumentError, match="module level"):
        run_workers(
            2,
            "random",
            lambda p: 0.0,
            BOWL_SPACE,
            storage="sqlite:///x.db",
            study_name="x",
            n_trials=1,
        )
    with pytest.raises(ArgumentError, match="storage the processes can share"):
        run_workers(2, "random", bowl, BOWL_SPACE, storage=None, study_name="x", n_trials=1)
    with pytest.raises(ArgumentError, match="search must be one of"):
        run_workers(2, "anneal", bowl, BOWL_SPACE, storage="sqlite:///x.db", study_name="x")


# ------------------------------------------------------------------- packaging
def test_importing_chainrule_does_not_import_optuna_scipy_or_sklearn():
    code = (
        "import sys, chainrule, chainrule.tune, chainrule.ensemble; "
        "print(sorted(m for m in ('optuna', 'scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_search_that_needs_optuna_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[tune\]"'):
        bayesian_search(bowl, BOWL_SPACE, 2, verbose=0)
    assert len(random_search(bowl, BOWL_SPACE, 2, seed=0, verbose=0)) == 2  # needs no Optuna


# ------------------------------------------------------------------- real use
def test_tuning_the_learning_rate_of_a_small_mlp():
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, 400)
    x = (centres[y] + rng.normal(0, 0.7, (400, 2))).astype(np.float32)
    train, val = (x[:300], y[:300]), (x[300:], y[300:])

    def objective(params):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        history = fit(
            model,
            train,
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=params["optimizer.lr"]),
            epochs=params["epochs"],
            batch_size=32,
            validation_data=val,
            metrics=["accuracy"],
            verbose=0,
        )
        return {"score": history["val_accuracy"][-1], "val_loss": history["val_loss"][-1]}

    space = {"optimizer.lr": [1e-4, 1e-2, 0.3], "epochs": 4}
    result = grid_search(objective, space, verbose=0)
    scores = {t.params["optimizer.lr"]: t.score for t in result}
    assert result.best_params["optimizer.lr"] in (1e-2, 0.3)
    assert result.best_score > 0.9
    assert scores[1e-4] < result.best_score
    assert "val_loss" in str(result)
