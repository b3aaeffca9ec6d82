"""MPI start-up under ``mpiexec``: MPI starts before anything can fail, rank 0 alone reads
the run directory and the config and tells the others, and an error in any process
aborts the whole job at once (no process left waiting). Ranks get their own working
directories through Hydra's ``-wdir``, so one of them cannot see the run directory, as
on machines without a shared file system."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainrule.cli import build_parser
from chainrule.cli import main as chainrule_main

SRC = Path(__file__).resolve().parents[1] / "src"


def find_mpiexec():
    beside_python = Path(sys.executable).with_name("mpiexec")
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def mpi_missing():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py is not installed (pip install "chainrule[mpi]")'
    if find_mpiexec() is None:
        return 'no mpiexec on PATH or beside python (pip install "chainrule[mpi]")'
    return None


needs_mpi = pytest.mark.skipif(mpi_missing() is not None, reason=str(mpi_missing()))
ENV = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def per_rank(directories, *command):
    """``mpiexec`` with rank i working in ``directories[i]``; (result, seconds)."""
    args = [find_mpiexec()]
    for i, directory in enumerate(directories):
        args += [*([":"] if i else []), "-n", "1", "-wdir", str(directory), *command]
    start = time.monotonic()
    done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=240)
    return done, time.monotonic() - start


def train(*args):
    return [sys.executable, "-m", "chainrule", "train", "xor", "--quiet", *args]


@pytest.fixture()
def seen_by_rank_0_only(tmp_path):
    """A finished one-epoch xor run in ``a/run``; ``b`` has no run directory."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert (
        chainrule_main(
            ["train", "xor", "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "a" / "run")]
        )
        == 0
    )
    return tmp_path / "a", tmp_path / "b"


@needs_mpi
def test_resume_of_a_run_only_rank_0_can_see_trains_on_every_rank(seen_by_rank_0_only):
    a, b = seen_by_rank_0_only
    done, _ = per_rank([a, b], *train("--epochs", "2", "--resume", "run"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1  # rank 0 reports
    assert "epochs_run" in (a / "run" / "metrics.json").read_text()
    assert not (b / "run").exists()  # rank 1 wrote nothing


@needs_mpi
def test_when_rank_0_cannot_read_the_run_the_whole_job_aborts_at_once(seen_by_rank_0_only):
    a, b = seen_by_rank_0_only
    done, seconds = per_rank(
        [b, a], *train("--epochs", "2", "--resume", "run", "--mpi-timeout", "200")
    )
    assert done.returncode != 0
    assert "nothing to resume" in done.stderr and "aborting the whole job" in done.stderr
    assert seconds < 60  # not the 200 s a waiting rank would take to time out


WORKER = """
import sys
from chainrule.train.strategy import get_strategy
strategy = get_strategy("mpi", timeout=float(sys.argv[1]))
print(repr(strategy), flush=True)
with open(f"rank{strategy.rank}.txt", "w") as f:  # a file survives the abort; piped output may not
    f.write(repr(strategy))
strategy.barrier()  # both ranks have started before rank 1 fails
with strategy.abort_on_error():
    if strategy.rank == 1:
        raise ValueError("only rank 1 fails")
    strategy.barrier()  # rank 0 would wait here for the full timeout
print("rank", strategy.rank, "went on", flush=True)
"""


@needs_mpi
def test_an_error_in_one_rank_aborts_every_rank_at_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done, seconds = per_rank([tmp_path, tmp_path], sys.executable, str(script), "200")
    assert done.returncode != 0 and "went on" not in done.stdout
    assert (tmp_path / "rank0.txt").read_text() == "MPIStrategy(rank 0 of 2, timeout=200)"
    assert (tmp_path / "rank1.txt").read_text() == "MPIStrategy(rank 1 of 2, timeout=200)"
    assert "error on rank 1 of 2: only rank 1 fails; aborting the whole job" in done.stderr
    assert seconds < 60


@pytest.mark.parametrize("text", ["0", "-5", "inf", "nan", "soon"])
def test_the_mpi_timeout_option_wants_positive_seconds(text, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "xor", "--mpi-timeout", text])
    assert "expected a positive number of seconds" in capsys.readouterr().err
    assert build_parser().parse_args(["train", "xor", "--mpi-timeout", "7.5"]).mpi_timeout == 7.5
