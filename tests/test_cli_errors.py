"""``chainrule train``: every broken experiment file, missing data directory and unusable
run directory gives one clear message and a non-zero exit, with no traceback unless
--debug; a run killed with SIGKILL and continued with ``--resume`` ends bit for bit
where an uninterrupted run with the same seed ends."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

SRC = str(Path(cr.__file__).resolve().parents[1])

GOOD = """
name = "tiny"
seed = 0

[data]
name = "digits"
flatten = true

[model]
layers = [
    {type = "linear", out = 16},
    {type = "relu"},
    {type = "dropout", p = 0.2},
    {type = "linear", out = 10},
]

[optimizer]
name = "adam"
lr = 0.01

[training]
epochs = 1
batch_size = 64
"""

LAYERS = GOOD[GOOD.index("layers = [") : GOOD.index("]\n\n[optimizer]") + 1]

# name -> (the edit that breaks the file, what the one-line message must contain)
BROKEN = {
    "misspelt section": (
        ("[training]", "[trainig]"),
        "trainig: unknown key (did you mean 'training'?)",
    ),
    "misspelt key": (
        ("epochs = 1", "epoch = 1"),
        "training.epoch: unknown key (did you mean 'epochs'?)",
    ),
    "misspelt layer type": (('"relu"', '"rleu"'), "model.layers[1].type"),
    "misspelt layer argument": (("out = 16", "outt = 16"), "model.layers[0].outt: unknown key"),
    "misspelt optimiser": (('name = "adam"', 'name = "adamm"'), "did you mean 'adam'?"),
    "misspelt optimiser option": (("lr = 0.01", "lrate = 0.01"), "optimizer.lrate: unknown key"),
    "misspelt dataset": (('name = "digits"', 'name = "digts"'), "data.name"),
    "TOML syntax": (('{type = "relu"},', '{type = "relu",'), "TOML syntax error"),
    "epochs a string": (
        ("epochs = 1", 'epochs = "ten"'),
        "training.epochs: expected an integer >= 1",
    ),
    "batch size zero": (("batch_size = 64", "batch_size = 0"), "training.batch_size"),
    "batch size a float": (("batch_size = 64", "batch_size = 2.5"), "training.batch_size"),
    "lr a string": (("lr = 0.01", 'lr = "fast"'), "optimizer.lr"),
    "lr negative": (("lr = 0.01", "lr = -1"), "optimizer.lr"),
    "dropout p above 1": (("p = 0.2", "p = 1.5"), "model.layers[2].p"),
    "layers a string": ((LAYERS, 'layers = "linear"'), "model.layers: expected an array"),
    "layer a string": (('{type = "relu"},', '"relu",'), "model.layers[1]: expected a table"),
    "seed negative": (("seed = 0", "seed = -1"), "seed: expected an integer >= 0"),
    "seed a string": (("seed = 0", 'seed = "zero"'), "seed"),
    "units zero": (("out = 16", "out = 0"), "model.layers[0].out"),
    "units a string": (("out = 16", 'out = "16"'), "model.layers[0].out"),
    "name a number": (('name = "tiny"', "name = 3"), "name"),
    "no flatten before linear": (("flatten = true", ""), 'add {type = "flatten"}'),
    "empty file": ((GOOD, ""), "[data]: missing"),
    "not text": ((GOOD, "\x00\x01garbage"), "TOML syntax error"),
    "data path missing": (
        (
            'name = "digits"\nflatten = true',
            'name = "mnist"\nflatten = true\npath = "/nonexistent/mnist"',
        ),
        "data.path: /nonexistent/mnist is not a directory",
    ),
    "data path a file": (
        ('name = "digits"\nflatten = true', 'name = "mnist"\nflatten = true\npath = "{file}"'),
        "is not a directory",
    ),
}


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clear_message(code, err, expected):
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    assert "Traceback" not in err
    assert expected in err, err


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_experiment_file_gives_one_message_naming_the_fault(tmp_path, capsys, case):
    (old, new), expected = BROKEN[case]
    assert old in GOOD
    path = tmp_path / "experiment.toml"
    path.write_text(GOOD.replace(old, new.replace("{file}", str(path))))
    code, _, err = run_cli(capsys, "train", path, "--run-dir", tmp_path / "run", "--quiet")
    assert_one_clear_message(code, err, expected)
    assert not (tmp_path / "run").exists()  # nothing is written before the config is sound


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD)
    return path


@pytest.mark.parametrize(
    "where, expected",
    [
        ("a-file/run", "cannot write the run directory"),  # under a file
        ("a-file", "cannot write the run directory"),  # a file itself
        ("/proc/chainrule-run", "cannot write the run directory"),  # a read-only filesystem
    ],
)
def test_an_unwritable_run_directory_gives_one_message(
    tmp_path, capsys, experiment, where, expected
):
    if where.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("needs /proc (Linux)")
    (tmp_path / "a-file").write_text("not a directory")
    run_dir = where if where.startswith("/") else tmp_path / where
    code, _, err = run_cli(capsys, "train", experiment, "--run-dir", run_dir, "--quiet")
    assert_one_clear_message(code, err, expected)


def test_a_run_directory_that_holds_a_run_is_not_overwritten(tmp_path, capsys, experiment):
    assert run_cli(capsys, "train", experiment, "--run-dir", tmp_path / "run", "--quiet")[0] == 0
    code, _, err = run_cli(capsys, "train", experiment, "--run-dir", tmp_path / "run", "--quiet")
    assert_one_clear_message(code, err, "already holds a run")


def test_resuming_what_cannot_be_resumed_gives_one_message(tmp_path, capsys, experiment):
    code, _, err = run_cli(capsys, "train", experiment, "--resume", tmp_path / "nowhere")
    assert_one_clear_message(code, err, "nothing to resume")
    run_dir = tmp_path / "run"
    assert run_cli(capsys, "train", experiment, "--run-dir", run_dir, "--quiet")[0] == 0
    checkpoints = sorted((run_dir / "checkpoints" / "run").glob("step-*.npz"))
    for path in checkpoints:
        path.write_bytes(b"\x80\x04 not a checkpoint")
    code, _, err = run_cli(capsys, "train", experiment, "--resume", run_dir, "--epochs", "2")
    assert_one_clear_message(code, err, "no usable checkpoint")
    assert all(path.name in err for path in checkpoints)


def run_command(*argv, **kwargs):
    env = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "chainrule", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def test_the_command_exits_non_zero_without_a_traceback_and_shows_it_with_debug(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("epochs = 1", "epoch = 1"))
    proc = run_command("train", path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err
    debug = run_command("train", path, "--debug")
    _, err = debug.communicate(timeout=120)
    assert debug.returncode != 0 and "Traceback" in err and "ConfigError" in err


# ------------------------------------------- resume from the command line, end to end

RESUMABLE = """
name = "resumable"
seed = 11

[data]
name = "digits"
validation = 200

[model]
layers = [
    {type = "conv2d", out = 4, kernel = 3, padding = 1},
    {type = "relu"},
    {type = "maxpool2d", kernel = 2},
    {type = "dropout", p = 0.25},
    {type = "flatten"},
    {type = "linear", out = 10},
]

[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9

[augmentation]
translate = 1
noise = 0.05

[training]
epochs = 4
batch_size = 32
checkpoint_every = 7
"""


def final_state(run_dir):
    """What a finished run leaves: its per-epoch history and its last weights."""
    history = (run_dir / "history.csv").read_text()
    with np.load(run_dir / "checkpoints" / "last.npz") as archive:
        weights = {name: archive[name].tobytes() for name in archive.files}
    return history, weights


def train_to_end(*argv):
    proc = run_command("train", *argv, "--quiet")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def resumable(tmp_path_factory):
    directory = tmp_path_factory.mktemp("resumable")
    path = directory / "resumable.toml"
    path.write_text(RESUMABLE)
    train_to_end(path, "--run-dir", directory / "reference")
    return path, final_state(directory / "reference")


def test_the_seed_in_the_experiment_makes_two_runs_identical(tmp_path, resumable):
    path, reference = resumable
    train_to_end(path, "--run-dir", tmp_path / "again")
    assert final_state(tmp_path / "again") == reference


@pytest.mark.parametrize("checkpoints_before_the_kill", [1, 3])
def test_a_run_killed_mid_epoch_resumes_from_the_command_line_bit_for_bit(
    tmp_path, resumable, checkpoints_before_the_kill
):
    path, reference = resumable
    run_dir = tmp_path / "run"
    proc = run_command("train", path, "--run-dir", run_dir, "--quiet")
    run_state = run_dir / "checkpoints" / "run"
    deadline = time.monotonic() + 120
    while len(list(run_state.glob("step-*.npz"))) < checkpoints_before_the_kill:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(np.random.default_rng(checkpoints_before_the_kill).uniform(0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill"
    out = train_to_end(path, "--resume", run_dir)
    assert re.search(r"test accuracy \d", out)
    assert final_state(run_dir) == reference
