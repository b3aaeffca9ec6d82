"""Corners of training a mutation run found untested: checkpoint pruning keeps exactly
``keep`` files, ``fit(shuffle=...)`` reaches the training loader, early stopping's
``start_from_epoch``, and a run whose best epoch is its first."""

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.nn.module import Module
from chainrule.train import Callback, EarlyStopping, fit
from chainrule.train.checkpoint import Checkpointer


@pytest.mark.parametrize("keep", [1, 2, 3, 5])
def test_checkpoint_pruning_keeps_exactly_keep_files_the_newest(tmp_path, keep):
    checkpointer = Checkpointer(tmp_path, keep=keep)
    for step in range(1, 9):
        checkpointer.save({"step": np.array(step)}, step)
        assert len(checkpointer.paths()) == min(step, keep)
    assert [p.name for p in checkpointer.paths()] == [
        f"step-{s:09d}.npz" for s in range(9 - keep, 9)
    ]


class Recorder(Module):
    """Identity on a (N, 1) column of sample ids, keeping the ids each batch brought."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.seen: list[list[int]] = []

    def forward(self, x):
        if self.training:
            self.seen.append([int(v) for v in x.numpy().reshape(-1)])
        return self.linear(x * 0.0)


def epoch_orders(shuffle, epochs=3, n=24):
    model = Recorder()
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    y = np.zeros(n, np.int64)
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.0),
        epochs=epochs,
        batch_size=6,
        shuffle=shuffle,
        verbose=0,
    )
    per_epoch = len(model.seen) // epochs
    batches = model.seen
    return [
        [i for batch in batches[e * per_epoch : (e + 1) * per_epoch] for i in batch]
        for e in range(epochs)
    ]


def test_fit_shuffle_false_visits_the_samples_in_order_every_epoch():
    assert epoch_orders(shuffle=False) == [list(range(24))] * 3


def test_fit_shuffle_true_draws_a_fresh_order_every_epoch():
    orders = epoch_orders(shuffle=True)
    assert all(sorted(order) == list(range(24)) for order in orders)  # each sample once
    assert all(order != list(range(24)) for order in orders)
    assert len({tuple(order) for order in orders}) == 3


class Scripted(EarlyStopping):
    """EarlyStopping fed a scripted validation loss instead of the model's."""

    def __init__(self, losses, **kwargs):
        super().__init__(**kwargs)
        self.losses = losses

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, {**(logs or {}), "val_loss": self.losses[epoch]})


def run_with(stopper, epochs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2)).astype(np.float32), rng.integers(0, 2, 16)
    model = nn.Linear(2, 2)
    weights = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights.append(model.weight.numpy().copy())

    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.5),
        epochs=epochs,
        batch_size=8,
        callbacks=[Snapshot(), stopper],
        verbose=0,
    )
    return model, weights, history


def test_the_first_epoch_can_be_the_best_and_its_weights_come_back():
    stopper = Scripted([0.5, 0.9, 0.8, 0.7, 0.6], patience=3, restore_best_weights=True)
    model, weights, history = run_with(stopper, 5)
    assert stopper.best_epoch == 0 and stopper.best == 0.5
    assert stopper.stopped_epoch == 3 and len(history["loss"]) == 4
    np.testing.assert_array_equal(model.weight.numpy(), weights[0])


def test_start_from_epoch_ignores_the_epochs_before_it():
    losses = [0.1, 0.2, 0.9, 0.8, 0.85, 0.9, 0.95, 0.99]
    stopper = Scripted(losses, patience=2, start_from_epoch=2, restore_best_weights=True)
    model, weights, history = run_with(stopper, 8)
    assert stopper.best_epoch == 3  # epochs 0 and 1 (0.1, 0.2) never count
    assert stopper.stopped_epoch == 5 and len(history["loss"]) == 6
    np.testing.assert_array_equal(model.weight.numpy(), weights[3])
    early = Scripted(losses, patience=2, start_from_epoch=0)
    run_with(early, 8)
    assert early.best_epoch == 0 and early.stopped_epoch == 2
