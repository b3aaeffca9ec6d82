"""fit's progress: plain per-epoch lines into a log file, an 80-column bar on a terminal
with the validation metrics on their own line, epochs numbered from 1."""

import io
import re
import sys

import numpy as np
import pytest

from chainrule import nn
from chainrule.train import fit


class Terminal(io.StringIO):
    def isatty(self):
        return True


def tiny_fit(epochs=2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    fit(
        model,
        (x[:48], y[:48]),
        loss="cross_entropy",
        optimizer="sgd",
        epochs=epochs,
        batch_size=16,
        validation_data=(x[48:], y[48:]),
        metrics=["accuracy"],
        verbose=1,
    )


def test_verbose_1_into_a_log_file_writes_one_clean_line_per_epoch(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stdout", log)
    tiny_fit()
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text and "|" not in text
    lines = text.splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val_accuracy" in lines[0]


def test_a_terminal_gets_an_80_column_bar_and_the_validation_metrics_below(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setenv("COLUMNS", "80")
    tiny_fit()
    screens = [part for line in sys.stdout.getvalue().split("\n") for part in line.split("\r")]
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", s) for s in screens if s.strip()]
    assert all(len(s) <= 80 for s in shown), max(shown, key=len)
    assert any(s.startswith("epoch 1/2") for s in shown)
    assert sum(s.strip().startswith("val_loss") for s in shown) == 2


def test_history_csv_and_messages_count_epochs_from_1(tmp_path):
    from chainrule.train import CSVLogger, EarlyStopping, History, Trainer

    model = nn.Sequential(nn.Linear(2, 2))
    x = np.zeros((8, 2), np.float32)
    y = np.zeros(8, np.int64)
    stopper = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True, min_delta=10.0)
    callbacks = [CSVLogger(tmp_path / "h.csv"), stopper]
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", callbacks=callbacks, verbose=0)
    trainer.fit((x, y), epochs=5)
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2"]
    assert trainer.stop_reason.endswith("at epoch 1")  # the first epoch set the best
    assert History.from_csv((tmp_path / "h.csv").read_text()).epoch == [0, 1]
