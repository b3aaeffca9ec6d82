"""Several workers on one stored study, started together on a storage that does not yet
exist: SQLite, a journal file and a real PostgreSQL server (started here by the
``pgserver`` wheel, reached through ``psycopg``). None dies creating it, every
configuration is trained once although every worker has the same seed, and a storage
that cannot be used is one clear line."""

import multiprocessing
import tempfile

import pytest

from chainrule.tune import Choice, Uniform, load_search, random_search
from chainrule.tune.result import StorageError

pytest.importorskip("optuna")

SPACE = {"x": Uniform(0.0, 1.0), "units": Choice([8, 16, 32, 64])}
WORKERS, TRIALS = 3, 2


def score(params):
    return -((params["x"] - 0.3) ** 2) - params["units"] / 1000


def worker(storage, barrier, outcomes):
    """One ``chainrule tune`` worker: the SEARCH.toml's seed, like all the others."""
    barrier.wait()  # all at once, onto a storage none has created
    try:
        random_search(score, SPACE, TRIALS, seed=0, storage=storage, study_name="race", verbose=0)
        outcomes.put("ok")
    except BaseException as error:
        outcomes.put(f"{type(error).__name__}: {error}")


def run_together(storage):
    # fork where there is one: the workers start with chainrule and Optuna already imported
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    barrier, outcomes = context.Barrier(WORKERS), context.Queue()
    processes = [
        context.Process(target=worker, args=(storage, barrier, outcomes)) for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    results = [outcomes.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert results == ["ok"] * WORKERS, results
    trials = load_search(storage, "race", SPACE).trials
    assert len(trials) == WORKERS * TRIALS
    assert all(t.state == "complete" for t in trials)
    configurations = [(t.params["x"], t.params["units"]) for t in trials]
    assert len(set(configurations)) == len(configurations)  # none trained twice


def test_workers_creating_one_sqlite_study_at_once_all_work(tmp_path):
    run_together(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_workers_creating_one_journal_study_at_once_all_work(tmp_path):
    run_together(str(tmp_path / "fresh.journal"))


@pytest.fixture(scope="module")
def postgresql():
    """A PostgreSQL server of our own, for the length of this module."""
    pgserver = pytest.importorskip("pgserver", reason='needs pip install "chainrule[postgres]"')
    pytest.importorskip("psycopg", reason='needs pip install "chainrule[postgres]"')
    directory = tempfile.mkdtemp(prefix="pg")  # short: the server's socket lives there
    try:
        server = pgserver.get_server(directory, cleanup_mode="stop")
    except Exception as error:  # the only reason to skip: the server cannot start here
        pytest.skip(f"the PostgreSQL server from pgserver could not start: {error}")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


def test_workers_creating_one_postgresql_study_at_once_all_work(postgresql):
    run_together(postgresql)


def test_a_storage_that_cannot_be_used_is_one_clear_line(tmp_path):
    storage = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'study.db'}"
    with pytest.raises(StorageError) as caught:
        random_search(score, SPACE, 1, seed=0, storage=storage, study_name="s", verbose=0)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"storage {storage}: ")
    assert "unable to open database file" in message


def test_a_password_in_a_storage_url_is_not_repeated(tmp_path):
    storage = "postgresql+psycopg://me:secret@127.0.0.1:1/nothing"
    pytest.importorskip("psycopg")
    with pytest.raises(StorageError) as caught:
        random_search(score, SPACE, 1, seed=0, storage=storage, study_name="s", verbose=0)
    assert "secret" not in str(caught.value) and "me:***@" in str(caught.value)
