"""Data-parallel training over MPI: 2 processes with batch B/2 each train the same model
as 1 process with batch B; a killed or hung process ends the job, which then resumes.

The MPI tests start ``mpiexec -n 2`` (the mpich wheel's, from ``pip install
"chainrule[mpi]"``) and are skipped, saying so, when it or mpi4py is missing.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.distributed import DistributedLoader, shard
from chainrule.train import Strategy, Trainer
from chainrule.train.strategy import get_strategy

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

# One script for every run: a float64 MLP, no dropout, SGD with momentum, 160 samples.
WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import CSVLogger, LambdaCallback, Trainer

    out, batch_size, strategy, kill_at, how, resume, batch_norm = sys.argv[1:8]
    batch_size, kill_at, resume = int(batch_size), int(kill_at), resume == "1"
    cr.set_default_float_dtype("float64")
    cr.manual_seed(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    norm = [nn.BatchNorm1d(16)] if batch_norm == "1" else []
    model = nn.Sequential(nn.Linear(6, 16), *norm, nn.Tanh(), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if strategy == "mpi-fast":  # gives up on a silent process after 5 s
        from chainrule.distributed import MPIStrategy
        strategy = MPIStrategy(timeout=5)
    strategy = None if strategy == "none" else strategy
    mismatches = []

    def check(batch, logs):
        s = trainer.strategy
        if s.rank == 1 and s.world_size > 1 and trainer.global_step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        states = s.all_gather(model.state_dict())
        for state in states[1:]:
            for k in state:
                if state[k].tobytes() != states[0][k].tobytes():
                    mismatches.append((trainer.global_step, k))

    trainer = Trainer(
        model, loss="cross_entropy", optimizer=opt, metrics=["accuracy"], verbose=2,
        callbacks=[LambdaCallback(on_batch_end=check), CSVLogger(f"{out}/log-rank{os.environ.get('PMI_RANK', 0)}.csv")],
        strategy=strategy,
    )
    history = trainer.fit(
        (x, y), epochs=5, batch_size=batch_size, validation_data=(x[:50], y[:50]),
        checkpoint_dir=f"{out}/ckpt", checkpoint_every=5, resume=resume,
    )
    if trainer.strategy.is_writer:
        arrays = {f"w:{k}": v for k, v in model.state_dict().items()}
        arrays.update({f"h:{k}": np.array(v) for k, v in history.history.items()})
        np.savez(f"{out}/result.npz", steps=trainer.global_step, mismatches=len(mismatches), **arrays)
    """
)


def run_worker(
    tmp_path,
    name,
    processes,
    batch_size,
    kill_at=-1,
    how="kill",
    resume=False,
    strategy="mpi",
    timeout=120,
    batch_norm=False,
):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    args = [
        sys.executable,
        str(script),
        str(out),
        str(batch_size),
        strategy,
        str(kill_at),
        how,
        "1" if resume else "0",
        "1" if batch_norm else "0",
    ]
    if processes:
        args = [find_mpiexec(), "-n", str(processes), *args]
    start = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start, out


def result(out):
    with np.load(out / "result.npz") as f:
        return {k: f[k] for k in f.files}


def assert_ok(done):
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


# ------------------------------------------------------------------ with MPI
@needs_mpi
@pytest.mark.parametrize("batch_size", [16, 15])  # 15: slices of 8 and 7, last batch of 10
def test_two_processes_with_half_batches_train_like_one_with_the_whole_and_rank_0_writes(
    tmp_path, batch_size
):
    one, _, out_one = run_worker(tmp_path, "one", 0, batch_size, strategy="none")
    two, _, out_two = run_worker(tmp_path, "two", 2, batch_size)
    assert_ok(one)
    assert_ok(two)
    single, double = result(out_one), result(out_two)
    assert int(double["steps"]) == int(single["steps"]) == 5 * -(-160 // batch_size)
    assert int(double["mismatches"]) == 0  # every rank bitwise identical after every step
    for key in single:
        if key.startswith(("w:", "h:")):
            np.testing.assert_allclose(double[key], single[key], rtol=0, atol=1e-10, err_msg=key)
    # only rank 0 writes logs and shows progress
    assert (out_two / "log-rank0.csv").exists() and not (out_two / "log-rank1.csv").exists()
    assert two.stdout.count("epoch 5/5") == 1


@needs_mpi
def test_batch_norm_running_statistics_are_averaged_so_every_rank_holds_the_same(tmp_path):
    done, _, out = run_worker(tmp_path, "bn", 2, 16, batch_norm=True)
    assert_ok(done)
    got = result(out)
    assert int(got["mismatches"]) == 0  # parameters and running statistics, after every step
    assert not np.allclose(got["w:1.running_mean"], 0)


@needs_mpi
def test_a_killed_rank_ends_the_job_and_it_resumes_from_the_last_checkpoint(tmp_path):
    reference, _, out_ref = run_worker(tmp_path, "ref", 2, 16)
    assert_ok(reference)
    killed, seconds, out = run_worker(tmp_path, "run", 2, 16, kill_at=23)
    assert killed.returncode != 0
    assert seconds < 30
    assert "Killed" in killed.stdout + killed.stderr
    assert not (out / "result.npz").exists()
    resumed, _, out = run_worker(tmp_path, "run", 2, 16, resume=True)
    assert_ok(resumed)
    assert "resumed from" in resumed.stdout and "step-000000020" in resumed.stdout
    expected, got = result(out_ref), result(out)
    for key in expected:
        if key.startswith(("w:", "h:")):
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@needs_mpi
def test_a_hung_rank_makes_the_others_abort_with_a_message_after_the_timeout(tmp_path):
    hung, seconds, _ = run_worker(
        tmp_path, "run", 2, 16, kill_at=7, how="stop", strategy="mpi-fast", timeout=60
    )
    assert hung.returncode != 0
    assert seconds < 30
    assert "rank 0 of 2 waited 5 s for gathering results" in hung.stderr
    assert "resume=True" in hung.stderr


# --------------------------------------------------------------- without MPI
def test_without_a_launcher_training_runs_in_one_process():
    assert type(get_strategy(None)) is Strategy
    assert type(get_strategy("mpi")) is Strategy  # not started by mpiexec: one process
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = np.ones((8, 3), np.float32), np.zeros(8, np.int64)
    trainer = Trainer(
        model,
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        verbose=0,
        strategy="mpi",
    )
    trainer.fit((x, y), epochs=1, batch_size=4)
    assert trainer.global_step == 2 and trainer.strategy.is_writer


def test_without_mpi4py_one_process_trains_and_an_mpi_job_is_told_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    for variable in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(variable, raising=False)
    assert type(get_strategy("mpi")) is Strategy
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(ImportError, match=r'pip install "chainrule\[mpi\]"'):
        get_strategy("mpi")


def test_an_unknown_strategy_is_rejected():
    with pytest.raises(cr.errors.ArgumentError, match="strategy must be None, 'mpi' or"):
        get_strategy("horovod")


@pytest.mark.parametrize("n, world", [(16, 2), (15, 2), (10, 4), (3, 4), (7, 3)])
def test_shards_cut_a_batch_into_contiguous_slices_differing_by_at_most_one(n, world):
    indices = np.arange(100, 100 + n)
    parts = [shard(indices, r, world) for r in range(world)]
    np.testing.assert_array_equal(np.concatenate(parts), indices)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


class FakeStrategy(Strategy):
    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size


@pytest.mark.parametrize("training", [True, False])
def test_every_sample_of_an_epoch_goes_to_exactly_one_process(training):
    from chainrule.data import DataLoader, TensorDataset

    x = np.arange(21, dtype=np.float32)[:, None]
    loader = DataLoader(TensorDataset(x), batch_size=4)  # last global batch: 1 sample
    world = 3
    seen = []
    for rank in range(world):
        shards = DistributedLoader(loader, FakeStrategy(rank, world), training)
        batches = list(shards.iterate(shards.epoch_order()))
        assert len(batches) <= len(shards) == (5 if training else 6)
        seen += [int(v) for (b,) in batches for v in b.numpy().ravel()]
    expected = list(range(20)) if training else list(range(21))  # training drops the 1
    assert sorted(seen) == expected


@needs_mpi
def test_mpiexec_chainrule_train_runs_an_experiment_on_two_processes(tmp_path):
    chainrule_cli = Path(sys.executable).with_name("chainrule")
    command = (
        [str(chainrule_cli)] if chainrule_cli.exists() else [sys.executable, "-m", "chainrule"]
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [
            find_mpiexec(),
            "-n",
            "2",
            *command,
            "train",
            "digits",
            "--epochs",
            "3",
            "--quiet",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("test accuracy") == 1  # only rank 0 reports
    for name in ("metrics.json", "history.csv", "diagnostics.json", "checkpoints/best.npz"):
        assert (tmp_path / "run" / name).is_file(), name
