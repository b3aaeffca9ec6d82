"""fit / evaluate / predict: the loop learns, logs, respects modes, and refuses bad data."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError, DataError, ShapeError
from chainrule.train import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    evaluate,
    fit,
    load,
    predict,
    predict_proba,
)


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(0, 0.6, (n, 2))
    return x.astype(np.float32), y


def mlp(hidden=16, classes=3):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def test_fit_learns_separable_blobs_and_logs_every_epoch():
    x, y = blobs()
    model = mlp()
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.Adam(model.parameters(), lr=0.05),
        epochs=15,
        batch_size=32,
        validation_split=0.2,
        metrics=["accuracy"],
        verbose=0,
    )
    assert len(history) == 15
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert history["loss"][-1] < history["loss"][0] / 3
    assert history["val_accuracy"][-1] > 0.9
    assert evaluate(model, (x, y), loss="cross_entropy")["accuracy"] > 0.9


def test_model_is_in_train_mode_while_fitting_and_eval_mode_while_evaluating():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = mlp()

        def forward(self, x):
            seen.append(self.training)
            return self.inner(x)

    x, y = blobs(64)
    model = Spy()
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        batch_size=32,
        validation_data=(x, y),
        verbose=0,
    )
    # preflight (eval), 2 training batches (train), validation batches (eval)
    assert seen[1:3] == [True, True] and seen[3:] == [False] * (len(seen) - 3)


def test_same_seed_same_config_gives_identical_histories():
    def run():
        cr.manual_seed(123)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        x, y = blobs()
        return fit(
            model,
            (x, y),
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
            epochs=3,
            batch_size=16,
            validation_split=0.25,
            metrics=["accuracy"],
            verbose=0,
        ), model

    (h1, m1), (h2, m2) = run(), run()
    assert h1.history == h2.history
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_predict_and_predict_proba_shapes():
    x, _y = blobs(50)
    model = mlp()
    out = predict(model, x, batch_size=7)
    assert out.shape == (50, 3)
    proba = predict_proba(model, x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_regularizer_adds_a_penalty_and_logs_it():
    x, y = blobs(64)
    model = mlp()
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        regularizer=lambda m: (
            0.01 * sum((p * p).sum() for n, p in m.named_parameters() if "weight" in n)
        ),
        verbose=0,
    )
    assert history["penalty"][0] > 0


# -------------------------------------------------------------------- callbacks


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    crafted = [1.0, 0.8, 0.5, 0.7, 0.9, 0.95, 0.99]  # best at epoch 2
    snapshots = {}
    x, y = blobs(64)
    model = mlp()
    craft = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_loss=crafted[epoch]))
    keep = LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.__setitem__(epoch, model.state_dict())
    )
    stopper = EarlyStopping(
        monitor="val_loss", patience=3, restore_best_weights=True, verbose=False
    )
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=7,
        validation_data=(x, y),
        callbacks=[craft, keep, stopper],
        verbose=0,
    )
    assert len(history) == 6  # epochs 3, 4, 5 did not improve: stop after epoch 5
    assert stopper.best_epoch == 2 and "early stopping" in history.stop_reason
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[2][name])


def test_early_stopping_names_a_monitor_that_is_not_logged():
    x, y = blobs(32)
    model = mlp()
    with pytest.raises(ArgumentError, match="val_loss.*validation_data"):
        fit(
            model,
            (x, y),
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=2,
            callbacks=[EarlyStopping()],
            verbose=0,
        )


def test_model_checkpoint_saves_best_only_and_the_file_loads(tmp_path):
    crafted = [0.9, 0.5, 0.7]
    x, y = blobs(64)
    model = mlp()
    saved = []
    craft = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_loss=crafted[epoch]))
    checkpoint = ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: saved.append(checkpoint.last_saved))
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        validation_data=(x, y),
        callbacks=[craft, checkpoint, record],
        verbose=0,
    )
    assert checkpoint.best == 0.5
    state = load(tmp_path / "best.npz")
    assert set(state) == set(model.state_dict())
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = blobs(64)
    model = mlp()
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        metrics=["accuracy"],
        callbacks=[CSVLogger(tmp_path / "log.csv")],
        verbose=0,
    )
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy") and len(rows) == 4


def test_learning_rate_scheduler_and_reduce_on_plateau_change_the_lr():
    x, y = blobs(64)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=opt,
        epochs=3,
        callbacks=[LearningRateScheduler(optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))],
        verbose=0,
    )
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])

    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    craft = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_loss=1.0))
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=opt,
        epochs=4,
        validation_data=(x, y),
        callbacks=[craft, ReduceLROnPlateau(patience=1, factor=0.5, verbose=False)],
        verbose=0,
    )
    assert opt.param_groups[0]["lr"] < 0.1


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs(64)
    model = mlp()
    poison = LambdaCallback(
        on_epoch_begin=lambda epoch, logs=None: epoch == 2 and model[0].weight.data.fill(np.nan)
    )
    checkpoint = ModelCheckpoint(tmp_path / "last.npz")
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=5,
        callbacks=[poison, checkpoint],
        verbose=0,
    )
    assert len(history) == 2 and "loss became nan" in history.stop_reason
    state = load(tmp_path / "last.npz")
    assert all(np.isfinite(v).all() for v in state.values())


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make_data, error, message",
    [
        (lambda x, y: (x, y + 5), DataError, r"labels must lie in \[0, 3\).*from \d+ to 7"),
        (lambda x, y: (x, y[:-1]), DataError, "64 inputs but 63 targets"),
        (
            lambda x, y: (x.reshape(64, 2, 1), y),
            ShapeError,
            r"cannot take the training inputs.*\(2, 1\)",
        ),
        (lambda x, y: (x[:0], y[:0]), DataError, "empty"),
        (
            lambda x, y: (np.where(np.arange(128).reshape(64, 2) == 77, np.nan, x), y),
            DataError,
            "NaN.*sample 38",
        ),
    ],
    ids=["labels_out_of_range", "length_mismatch", "wrong_shape", "empty", "nan_inputs"],
)
def test_bad_training_data_is_refused_before_training_starts(make_data, error, message):
    x, y = blobs(64)
    model = mlp()
    before = model.state_dict()
    with pytest.raises(error, match=message):
        fit(
            model,
            make_data(x, y),
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            verbose=0,
        )
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_batch_size_zero_and_bad_epochs_are_refused():
    x, y = blobs(32)
    model = mlp()
    with pytest.raises(ArgumentError, match="batch_size"):
        fit(model, (x, y), loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=0, verbose=0)
    with pytest.raises(ArgumentError, match="epochs"):
        fit(model, (x, y), loss="cross_entropy", optimizer="sgd", epochs=0, verbose=0)
    with pytest.raises(ArgumentError, match="unknown loss"):
        fit(model, (x, y), loss="hinge", optimizer="sgd", epochs=1, verbose=0)


def test_each_hook_reaches_every_callback_once_in_the_order_given():
    calls = []

    def recorder(tag):
        return LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: calls.append((tag, "epoch_begin", epoch)),
            on_batch_end=lambda batch, logs: calls.append((tag, "batch_end", batch)),
            on_epoch_end=lambda epoch, logs: calls.append((tag, "epoch_end", epoch)),
        )

    x, y = blobs(n=8)
    fit(
        mlp(),
        (x, y),
        loss="cross_entropy",
        optimizer="sgd",
        epochs=1,
        batch_size=4,
        callbacks=[recorder("a"), recorder("b")],
        verbose=0,
    )
    assert calls == [
        ("a", "epoch_begin", 0), ("b", "epoch_begin", 0),
        ("a", "batch_end", 0), ("b", "batch_end", 0),
        ("a", "batch_end", 1), ("b", "batch_end", 1),
        ("a", "epoch_end", 0), ("b", "epoch_end", 0),
    ]  # fmt: skip


def test_evaluate_needs_no_trainer_and_refuses_what_is_not_a_model():
    x, y = blobs(n=40)
    model = mlp()
    model.train()
    logs = evaluate(model, (x, y), loss="cross_entropy", metrics=["accuracy"])
    assert set(logs) == {"loss", "accuracy"} and model.training
    with pytest.raises(ArgumentError, match="model must be a chainrule.nn.Module; got function"):
        evaluate(lambda t: t, (x, y), loss="cross_entropy")
