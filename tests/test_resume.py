"""A run stopped mid-epoch and resumed from its checkpoint ends exactly where an
uninterrupted run does: same weights, same history, bit for bit."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import transforms
from chainrule.errors import CheckpointError
from chainrule.train import EarlyStopping, LambdaCallback, LearningRateScheduler, Trainer, loop
from chainrule.train.serialization import load, save


class Crash(Exception):
    pass


def images(n=96):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)) + y[:, None, None, None]
    return x.astype(np.float32), y


def run(tmp_path, crash_at_step=None, resume=False, epochs=4):
    cr.manual_seed(7)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3)
    )
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    callbacks = [
        LearningRateScheduler(optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)),
        EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True, verbose=False),
    ]

    def crash(batch, logs):  # stands in for a kill; present in every run so callbacks match
        if trainer.global_step == crash_at_step:
            raise Crash

    callbacks.append(LambdaCallback(on_batch_end=crash))
    trainer = Trainer(
        model,
        loss="cross_entropy",
        optimizer=opt,
        metrics=["accuracy"],
        callbacks=callbacks,
        verbose=0,
    )
    x, y = images()
    history = trainer.fit(
        (x, y),
        epochs=epochs,
        batch_size=16,
        validation_data=(x[:32], y[:32]),
        transform=transforms.GaussianNoise(0.05),
        checkpoint_dir=tmp_path,
        checkpoint_every=2,
        resume=resume,
    )
    return model, history


@pytest.mark.parametrize("crash_at_step", [1, 5, 6, 13, 23])
def test_resumed_run_is_bitwise_identical_to_an_uninterrupted_one(tmp_path, crash_at_step):
    reference_model, reference_history = run(tmp_path / "ref")
    with pytest.raises(Crash):
        run(tmp_path / "run", crash_at_step=crash_at_step)
    if crash_at_step == 1:  # nothing was checkpointed yet: resuming must say so
        with pytest.raises(CheckpointError, match="nothing to resume"):
            run(tmp_path / "run", resume=True)
        return
    model, history = run(tmp_path / "run", resume=True)
    assert history.history == reference_history.history
    for (name, a), b in zip(model.state_dict().items(), reference_model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_resume_falls_back_past_a_corrupted_checkpoint(tmp_path, capsys):
    reference_model, _ = run(tmp_path / "ref")
    with pytest.raises(Crash):
        run(tmp_path / "run", crash_at_step=15)
    newest = sorted((tmp_path / "run").glob("step-*.npz"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    model, _ = run(tmp_path / "run", resume=True)
    assert "falling back" in capsys.readouterr().err
    for a, b in zip(model.state_dict().values(), reference_model.state_dict().values()):
        np.testing.assert_array_equal(a, b)


def timed_run(tmp_path, clock, crash_at_step=None, resume=False):
    """3 epochs of 6 steps, checkpoints every 4 steps; ``clock`` ticks a second a step."""
    cr.manual_seed(7)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

    def tick(batch, logs):
        clock[0] += 1.0
        if trainer.global_step == crash_at_step:
            raise Crash

    trainer = Trainer(
        model,
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.05),
        callbacks=[LambdaCallback(on_batch_end=tick)],
        verbose=0,
    )
    x, y = images()
    trainer.fit((x, y), epochs=3, batch_size=16, checkpoint_dir=tmp_path, checkpoint_every=4,
                resume=resume)  # fmt: skip
    return trainer


def test_training_time_adds_up_over_resumed_legs(tmp_path, monkeypatch):
    # Killed at step 9, resumed from the checkpoint of step 8: the run reports the 18
    # seconds of an uninterrupted run (8 kept from the first leg, 10 from the second),
    # not the last leg's 10, nor the 19 ticks that include the step done twice.
    clock = [0.0]
    monkeypatch.setattr(loop, "perf_counter", lambda: clock[0])
    assert timed_run(tmp_path / "ref", clock).training_seconds == 18.0
    with pytest.raises(Crash):
        timed_run(tmp_path / "run", clock, crash_at_step=9)
    trainer = timed_run(tmp_path / "run", clock, resume=True)
    assert trainer.training_seconds == 18.0
    assert not trainer.training_seconds_partial


def test_training_time_of_a_checkpoint_without_it_counts_the_last_leg_and_says_so(
    tmp_path, monkeypatch
):
    clock = [0.0]
    monkeypatch.setattr(loop, "perf_counter", lambda: clock[0])
    with pytest.raises(Crash):
        timed_run(tmp_path, clock, crash_at_step=9)
    for path in tmp_path.glob("step-*.npz"):  # as an older version wrote them
        state = load(path)
        del state["progress"]["training_seconds"]
        save(state, path)
    trainer = timed_run(tmp_path, clock, resume=True)
    assert trainer.training_seconds == 10.0
    assert trainer.training_seconds_partial
