"""``[data]`` made real: load, split, subset, expand, normalise, and the training transform.

Training inputs stay as loaded (MNIST: uint8, 1 byte a pixel, so Nielsen's 250,000
expanded images fit in 200 MB) and are normalised, augmented and flattened batch by
batch by the loader's transform; validation and test inputs are prepared once.

Splits: MNIST's own 60,000 / 10,000; scikit-learn's 1,797 digits: a fixed random 80/20
split (1,437 training, 360 test; permutation by ``numpy.random.default_rng(0)``, the
same for every experiment and seed); XOR: the four points are also the test set;
spirals and blobs: drawn with the experiment's seed, the last 20% for test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data import load_digits, load_mnist, make_blobs, make_spirals, make_xor
from chainrule.data.transforms import Compose, expand_by_shifts
from chainrule.experiments.config import ExperimentConfig, augmentation_transforms
from chainrule.experiments.schema import ConfigError

Arrays = tuple[np.ndarray, np.ndarray]

DIGITS_TEST_SIZE = 360


@dataclass
class PreparedData:
    """Training data as loaded plus the transform that makes model inputs of its batches;
    validation and test data ready to use; the test images as loaded, for pictures."""

    train: Arrays
    train_transform: Callable[[np.ndarray], np.ndarray]
    validation: Arrays
    test: Arrays
    test_images: np.ndarray | None
    description: str


class Normalize:
    """x -> (x - shift) * scale as float32, with shift and scale fixed from the training data."""

    def __init__(self, shift: Any = 0.0, scale: Any = 1.0) -> None:
        self.shift = np.asarray(shift, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float32) - self.shift) * self.scale

    def __repr__(self) -> str:
        return f"Normalize(shift={self.shift.tolist()}, scale={self.scale.tolist()})"


def flatten_batch(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, features)."""
    return x.reshape(len(x), -1)


def load_splits(config: ExperimentConfig) -> tuple[Arrays, Arrays]:
    """((x_train, y_train), (x_test, y_test)) as loaded; images get a channel axis (N, 1, H, W)."""
    data = config.data
    if data.name == "mnist":
        if data.path is not None and not Path(data.path).expanduser().is_dir():
            raise ConfigError(f"data.path: {data.path} is not a directory")
        train, test = load_mnist(path=data.path)
    elif data.name == "digits":
        x, y = load_digits()
        order = np.random.default_rng(0).permutation(len(x))
        cut = len(x) - DIGITS_TEST_SIZE
        train, test = (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])
    elif data.name == "xor":
        train = test = make_xor()
    else:
        generator = np.random.default_rng(config.seed)
        maker = make_spirals if data.name == "spirals" else make_blobs
        x, y = maker(generator=generator)
        order = generator.permutation(len(x))
        cut = len(x) - len(x) // 5
        train, test = (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])
    if data.info.is_image:
        train, test = (train[0][:, None], train[1]), (test[0][:, None], test[1])
    return train, test


def prepare_data(config: ExperimentConfig) -> PreparedData:
    """Everything ``[data]`` and ``[augmentation]`` ask for, ready for ``Trainer.fit``."""
    data = config.data
    (x_train, y_train), (x_test, y_test) = load_splits(config)
    parts = []
    if data.validation == "test":
        validation = None
    else:
        held_out = data.validation
        if held_out >= len(x_train):
            raise ConfigError(
                f"data.validation: cannot hold out {held_out} of {len(x_train)} training samples"
            )
        validation = (x_train[-held_out:], y_train[-held_out:])
        x_train, y_train = x_train[:-held_out], y_train[:-held_out]
    if data.train_subset is not None:
        if data.train_subset > len(x_train):
            raise ConfigError(
                f"data.train_subset: {data.train_subset} is more than the {len(x_train)} "
                "training samples there are"
            )
        x_train, y_train = x_train[: data.train_subset], y_train[: data.train_subset]
    if data.expand_shifts:
        x_train, y_train = expand_by_shifts(x_train, y_train)
        parts.append(f"{len(x_train)} training (expanded 5x by one-pixel shifts)")
    else:
        parts.append(f"{len(x_train)} training")
    normalize = _normalizer(config, x_train)

    def ready(x: np.ndarray) -> np.ndarray:
        x = normalize(x)
        return flatten_batch(x) if data.flatten else x

    steps: list[Callable[[np.ndarray], np.ndarray]] = [normalize]
    if config.augmentation is not None:
        fill = float(normalize(np.zeros(1)).reshape(-1)[0])  # the normalised background
        steps += augmentation_transforms(config.augmentation, fill=fill)
    if data.flatten:
        steps.append(flatten_batch)
    test = (ready(x_test), y_test)
    if validation is None:
        parts.append(f"{len(x_test)} test (also the validation data)")
        validation_ready = test
    else:
        validation_ready = (ready(validation[0]), validation[1])
        parts += [f"{len(validation[0])} validation (held out of training)", f"{len(x_test)} test"]
    return PreparedData(
        train=(x_train, y_train),
        train_transform=Compose(steps),
        validation=validation_ready,
        test=test,
        test_images=x_test[:, 0] if data.info.is_image else None,
        description=", ".join(parts),
    )


def _normalizer(config: ExperimentConfig, x_train: np.ndarray) -> Normalize:
    """``data.normalize`` with statistics of the training inputs: images get one shift and
    scale for all pixels (so shifted images stay consistent), other data one per feature."""
    data = config.data
    if data.normalize == "none":
        return Normalize()
    if data.info.is_image:
        if data.normalize == "unit":
            return Normalize(0.0, 1.0 / data.info.pixel_max)
        mean, std = _mean_std(x_train)
        return Normalize(mean, 1.0 / std if std > 0 else 1.0)
    if data.normalize == "unit":
        low, high = x_train.min(axis=0), x_train.max(axis=0)
        spread = np.where(high > low, high - low, 1.0)
        return Normalize(low, 1.0 / spread)
    mean, std = x_train.mean(axis=0, dtype=np.float64), x_train.std(axis=0, dtype=np.float64)
    return Normalize(mean, 1.0 / np.where(std > 0, std, 1.0))


def _mean_std(x: np.ndarray, chunk: int = 10_000) -> tuple[float, float]:
    """Mean and standard deviation of all of ``x``, in float64, a chunk of samples at a time."""
    mean = float(x.mean(dtype=np.float64))
    squares = sum(float(np.square(x[i : i + chunk] - mean).sum()) for i in range(0, len(x), chunk))
    return mean, math.sqrt(squares / x.size)
