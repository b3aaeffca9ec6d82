"""The TensorBoard callback writes losses, metrics, the learning rate and the doctor's
per-layer statistics to an event file that reads back with the values the run logged."""

import struct
from collections import defaultdict

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.diagnose import Monitor
from chainrule.errors import ArgumentError
from chainrule.train import TensorBoard, fit

pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")
from tensorboardX.proto.event_pb2 import Event


def read_scalars(log_dir):
    """{tag: [(step, value)]} from every event file under log_dir (TFRecord framing:
    length u64, its crc u32, the record, its crc u32)."""
    scalars = defaultdict(list)
    histograms = set()
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("histo"):
                    histograms.add(value.tag)
                else:
                    scalars[value.tag].append((event.step, value.simple_value))
    return scalars, histograms


def test_event_file_holds_losses_metrics_lr_and_layer_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    monitor = Monitor(every=1)
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=16,
        validation_data=(x, y),
        metrics=["accuracy"],
        callbacks=[TensorBoard(tmp_path / "tb", histogram_freq=1), monitor],
        verbose=0,
    )
    scalars, histograms = read_scalars(tmp_path / "tb")
    assert [step for step, _ in scalars["batch/loss"]] == list(range(1, 9))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        steps, values = zip(*scalars[f"epoch/{key}"])
        assert steps == (0, 1)
        np.testing.assert_allclose(values, history.history[key], rtol=1e-6)
    grad = scalars["layers/0/grad_norm"]
    np.testing.assert_allclose([v for _, v in grad], monitor.stats["0"]["grad_norm"], rtol=1e-6)
    assert [s for s, _ in scalars["layers/1/dead_fraction"]] == monitor.epochs
    assert {"weights/0.weight", "weights/2.bias"} <= histograms


def test_tensorboard_refuses_a_negative_histogram_frequency(tmp_path):
    with pytest.raises(
        ArgumentError,
        match="histogram_freq must be a whole number of epochs >= 0.*got histogram_freq=-1",
    ):
        TensorBoard(tmp_path, histogram_freq=-1)
