"""``chainrule.manual_seed(n)`` makes two runs identical bit for bit on the CPU: weights,
history, augmentation draws, dropout masks and shuffling; in one process or in two."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import transforms
from chainrule.train import fit


class Recorder(nn.Module):
    """Passes x through, keeping a copy of every training batch it sees."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.numpy().copy())
        return x


def data():
    rng = np.random.default_rng(0)  # the data are fixed; only the seed below varies
    y = rng.integers(0, 3, 48)
    x = (rng.normal(0, 0.5, (48, 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)
    return x, y


def build(kind):
    inputs, after_dropout = Recorder(), Recorder()
    if kind == "mlp":
        layers = [nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.5), after_dropout]
        head = nn.Linear(16, 3)
    else:
        layers = [nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.5)]
        layers += [after_dropout, nn.Flatten()]
        head = nn.Linear(48, 3)
    return nn.Sequential(inputs, *layers, head), inputs, after_dropout


def train(kind, seed):
    """One seeded run: (weights, history, augmented batches in order, post-dropout activations)."""
    cr.manual_seed(seed)
    model, inputs, after_dropout = build(kind)
    augment = transforms.Compose(
        [
            transforms.RandomTranslation(1),
            transforms.RandomRotation(10),
            transforms.GaussianNoise(0.1),
        ]
    )
    x, y = data()
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        epochs=3,
        batch_size=16,
        validation_split=0.25,
        metrics=["accuracy"],
        transform=augment,
        verbose=0,
    )
    return model.state_dict(), history.history, inputs.seen, after_dropout.seen


def digest(run):
    weights, history, batches, activations = run
    h = hashlib.sha256()
    for array in [*weights.values(), *batches, *activations]:
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(json.dumps(history, sort_keys=True).encode())
    return h.hexdigest()


def assert_identical(a, b):
    (weights_a, history_a, batches_a, masks_a), (weights_b, history_b, batches_b, masks_b) = a, b
    assert history_a == history_b
    for name in weights_a:
        assert weights_a[name].tobytes() == weights_b[name].tobytes(), name
    assert len(batches_a) == len(batches_b) == 9  # 36 training samples, batches of 16, 3 epochs
    for u, v in zip(batches_a + masks_a, batches_b + masks_b):
        assert u.tobytes() == v.tobytes()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_same_seed_gives_the_same_run_bit_for_bit(kind):
    assert_identical(train(kind, 7), train(kind, 7))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_another_seed_changes_weights_shuffling_augmentation_and_dropout(kind):
    weights_a, _, batches_a, masks_a = train(kind, 7)
    weights_b, _, batches_b, masks_b = train(kind, 8)
    assert any(not np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    first_a, first_b = batches_a[0], batches_b[0]
    assert not np.array_equal(first_a, first_b)
    # shuffling: the batches hold different samples (labels are in the pixel mean)
    assert not np.array_equal(
        np.round(first_a.mean(axis=(1, 2, 3))), np.round(first_b.mean(axis=(1, 2, 3)))
    )
    # dropout: the zero patterns differ
    assert not np.array_equal(masks_a[0] == 0, masks_b[0] == 0)


def test_the_dropout_mask_and_every_augmentation_repeat_after_reseeding():
    x = np.random.default_rng(1).normal(size=(4, 2, 9, 9)).astype(np.float32)
    pipeline = [
        transforms.RandomTranslation(2),
        transforms.RandomTranslation(0.2),
        transforms.RandomRotation(30),
        transforms.RandomScaling((0.8, 1.2)),
        transforms.RandomShear(20),
        transforms.ElasticDistortion(8.0, 3.0),
        transforms.RandomHorizontalFlip(),
        transforms.GaussianNoise(0.5),
        transforms.BrightnessContrast(),
    ]

    def draws():
        out = [t(x) for t in pipeline]
        out.append(cr.functional.dropout(cr.tensor(x), 0.5).numpy())
        out.append(cr.data.DataLoader(cr.data.TensorDataset(x), 1, shuffle=True).epoch_order())
        return out

    cr.manual_seed(11)
    first = draws()
    cr.manual_seed(11)
    for u, v in zip(first, draws()):
        assert u.tobytes() == v.tobytes()


RUN_IN_SUBPROCESS = """
import sys
sys.path.insert(0, sys.argv[1])
import test_reproducibility as t
print(t.digest(t.train(sys.argv[2], 7)))
"""


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_two_processes_with_different_hash_seeds_agree_with_this_one(kind):
    src = str(Path(cr.__file__).resolve().parents[1])
    digests = []
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": src}
        out = subprocess.run(
            [sys.executable, "-c", RUN_IN_SUBPROCESS, str(Path(__file__).parent), kind],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1] == digest(train(kind, 7))
