"""A training run killed with SIGKILL at a random moment (mid-epoch, before the first
checkpoint, in the middle of writing a checkpoint, twice in a row) and then resumed ends
bit for bit where an uninterrupted run with the same seed ends: weights, optimiser state
and history.

The run is a script in a subprocess. It announces each step and sleeps a few
milliseconds in it, so the kill lands inside a chosen step at a random offset. With
``KILL_IN_WRITE=k`` (read by the script, never by the library) the k-th checkpoint write
stops halfway through its bytes and announces itself, so the kill leaves a half-written
temporary file.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import transforms
from chainrule.train import EarlyStopping, LambdaCallback, Trainer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

SCRIPT = r"""
import json, os, sys, time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import transforms
from chainrule.train import EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau, Trainer

kind, run_dir = sys.argv[1], Path(sys.argv[2])
kill_in_write = int(os.environ.get("KILL_IN_WRITE", "0"))

if kill_in_write:
    # Test hook: the k-th file write stops halfway through its bytes and waits to be killed.
    real_fdopen, writes = os.fdopen, [0]

    class HalfwayFile:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def write(self, data):
            writes[0] += 1
            if writes[0] != kill_in_write:
                return self.handle.write(data)
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            print("WRITING", flush=True)
            time.sleep(60)

    os.fdopen = lambda fd, *args, **kwargs: HalfwayFile(real_fdopen(fd, *args, **kwargs))

cr.manual_seed(1234)
rng = np.random.default_rng(0)
y = rng.integers(0, 3, 96)
x = (rng.normal(0, 0.5, (96, 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)
if kind == "mlp":
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3)
    )
    opt = optim.Adam(model.parameters(), lr=0.01)
    schedule = LearningRateScheduler(optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))
    augment = transforms.Compose([transforms.GaussianNoise(0.1), transforms.RandomHorizontalFlip()])
else:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64, 3),
    )
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    schedule = ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5, verbose=False)
    augment = transforms.Compose([
        transforms.RandomHorizontalFlip(), transforms.GaussianNoise(0.05),
        transforms.BrightnessContrast(0.1, 0.1, generator=cr.backend.new_generator(9)),
    ])


def announce(batch, logs=None):
    print(f"STEP {trainer.global_step + 1}", flush=True)
    time.sleep(0.01)  # so that a kill can land inside the step


trainer = Trainer(
    model, loss="cross_entropy", optimizer=opt, metrics=["accuracy"], verbose=0,
    callbacks=[
        schedule,
        EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True, verbose=False),
        LambdaCallback(on_batch_begin=announce),
    ],
)
checkpoints = run_dir / "checkpoints"
history = trainer.fit(
    (x[:80], y[:80]), epochs=5, batch_size=16, validation_data=(x[80:], y[80:]),
    transform=augment, checkpoint_dir=checkpoints, checkpoint_every=3,
    resume=any(checkpoints.glob("step-*.npz")),
)
np.savez(run_dir / "weights.npz", **model.state_dict())
cr.train.save(opt.state_dict(), run_dir / "optimizer.npz")
(run_dir / "history.json").write_text(json.dumps(history.history))
print("DONE", flush=True)
"""

TOTAL_STEPS = 25  # 5 epochs of 80 samples in batches of 16


def start(script, kind, run_dir, **env):
    run_dir.mkdir(exist_ok=True)
    src = str(Path(cr.__file__).resolve().parents[1])
    environ = {
        **os.environ,
        **env,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OPENBLAS_NUM_THREADS": "1",  # tiny matrices: threads only cost, on a busy machine a lot
    }
    with open(run_dir / "stderr.txt", "a") as stderr:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, str(script), kind, str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=environ,
        )


def run_to_end(script, kind, run_dir):
    proc = start(script, kind, run_dir)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, (run_dir / "stderr.txt").read_text()
    assert out.rstrip().endswith("DONE")


def kill_at(script, kind, run_dir, trigger, delay, **env):
    """Start the run, wait for the line ``trigger``, sleep ``delay`` seconds, SIGKILL it."""
    proc = start(script, kind, run_dir, **env)
    for line in proc.stdout:
        if line.strip() == trigger:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill at {trigger!r}"


def result(run_dir):
    with np.load(run_dir / "weights.npz") as weights:
        state = {name: weights[name] for name in weights.files}
    history = json.loads((run_dir / "history.json").read_text())
    return state, cr.train.load(run_dir / "optimizer.npz"), history


def assert_bitwise_equal(a, b, where=""):
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            assert_bitwise_equal(u, v, f"{where}/{i}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), f"{where} differs"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "train_run.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory):
    """The uninterrupted run of each model, computed once."""
    cache = {}

    def get(kind):
        if kind not in cache:
            run_dir = tmp_path_factory.mktemp(f"reference-{kind}")
            run_to_end(script, kind, run_dir)
            cache[kind] = result(run_dir)
        return cache[kind]

    return get


# Kill points, drawn once from a seeded generator: (trigger line, environment) per kill.
_rng = np.random.default_rng(2024)
_mid = [int(s) for s in _rng.choice(np.arange(5, TOTAL_STEPS - 2), 4, replace=False)]
KILL_POINTS = {
    "mlp-mid-epoch": ("mlp", [(f"STEP {_mid[0]}", {})]),
    "mlp-during-a-step-checkpoint-write": ("mlp", [("WRITING", {"KILL_IN_WRITE": "3"})]),
    "mlp-killed-twice": ("mlp", [(f"STEP {_mid[1]}", {}), (f"STEP {_mid[1] + 2}", {})]),
    "cnn-before-the-first-checkpoint": ("cnn", [("STEP 2", {})]),
    "cnn-mid-epoch": ("cnn", [(f"STEP {_mid[2]}", {})]),
    "cnn-during-an-epoch-checkpoint-write": ("cnn", [("WRITING", {"KILL_IN_WRITE": "2"})]),
}


@pytest.mark.parametrize("name", list(KILL_POINTS))
def test_a_killed_and_resumed_run_is_bitwise_identical_to_an_uninterrupted_one(
    script, reference, tmp_path, name
):
    kind, kills = KILL_POINTS[name]
    rng = np.random.default_rng(len(name))
    for trigger, env in kills:
        kill_at(script, kind, tmp_path, trigger, delay=float(rng.uniform(0, 0.01)), **env)
    if "WRITING" in [trigger for trigger, _ in kills]:
        assert list((tmp_path / "checkpoints").glob(".step-*.tmp")), "no half-written file"
    run_to_end(script, kind, tmp_path)
    assert_bitwise_equal(result(tmp_path), reference(kind))
    assert not list((tmp_path / "checkpoints").glob(".step-*.tmp"))


# ------------------------------------------------ the run state holds what resume needs


class Crash(Exception):
    pass


def train_in_process(run_dir, crash=None, resume=False, transform=None, patience=50):
    cr.manual_seed(5)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 64)
    x = (rng.normal(0, 1, (64, 1, 4, 4)) + y[:, None, None, None]).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    crash_callback = LambdaCallback(**crash) if crash else LambdaCallback()
    trainer = Trainer(
        model,
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.5, momentum=0.9),
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
            crash_callback,
        ],
        verbose=0,
    )
    history = trainer.fit(
        (x, y),
        epochs=12,
        batch_size=16,
        validation_data=(x[:16], y[:16]),
        transform=transform,
        checkpoint_dir=run_dir,
        checkpoint_every=3,
        resume=resume,
    )
    return model.state_dict(), history.history


def test_a_run_killed_after_deciding_to_stop_does_not_train_on_when_resumed(tmp_path):
    reference = train_in_process(tmp_path / "ref", patience=1)
    assert len(reference[1]["loss"]) < 12  # early stopping ended it

    def crash(logs=None):  # after the last checkpoint, before fit returns
        raise Crash

    with pytest.raises(Crash):
        train_in_process(tmp_path / "run", crash={"on_train_end": crash}, patience=1)
    assert_bitwise_equal(train_in_process(tmp_path / "run", resume=True, patience=1), reference)


def test_a_transform_with_its_own_generator_resumes_where_it_was(tmp_path):
    def noise():
        return transforms.GaussianNoise(0.3, generator=cr.backend.new_generator(3))

    reference = train_in_process(tmp_path / "ref", transform=noise())

    steps = []

    def crash(batch, logs=None):  # at step 8, two steps after the checkpoint of step 6
        steps.append(batch)
        if len(steps) == 8:
            raise Crash

    with pytest.raises(Crash):
        train_in_process(tmp_path / "run", crash={"on_batch_end": crash}, transform=noise())
    resumed = train_in_process(tmp_path / "run", resume=True, transform=noise())
    assert_bitwise_equal(resumed, reference)
