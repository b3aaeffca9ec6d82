"""``[data]`` made real: load, split, subset, expand, normalise, augment.

Training inputs stay as loaded (MNIST: uint8, 1 byte a pixel, so Nielsen's 250,000
expanded images fit in 200 MB) and are normalised batch by batch as the loader draws
them; augmentation is the loader's transform; validation and test inputs are normalised
once. Images stay images, (N, 1, H, W): ``data.flatten`` puts a Flatten at the front of
the model (``build_model``), so augmentation always sees images.

Splits: MNIST's own 60,000 / 10,000; scikit-learn's 1,797 digits: a fixed random 80/20
split (1,437 training, 360 test; permutation by ``numpy.random.default_rng(0)``, the
same for every experiment and seed); XOR: the four points are also the test set;
spirals and blobs: drawn with the experiment's seed, the last 20% for test; plane (the
playground's sets): drawn with the experiment's seed, split by ``plane.train_fraction``,
then mapped to ``plane.features``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data import (
    TensorDataset,
    load_digits,
    load_mnist,
    load_plane,
    make_blobs,
    make_spirals,
    make_xor,
    plane_features,
    transforms,
)
from chainrule.data.mnist import FILES as MNIST_FILES
from chainrule.data.mnist import DatasetNotFoundError
from chainrule.data.mnist import cache_dir as mnist_cache_dir
from chainrule.data.mnist import search_dirs as mnist_search_dirs
from chainrule.data.transforms import Compose, Transform, expand_by_shifts
from chainrule.experiments.config import AugmentationConfig, ExperimentConfig
from chainrule.experiments.schema import ConfigError

Arrays = tuple[np.ndarray, np.ndarray]

DIGITS_TEST_SIZE = 360


@dataclass
class PreparedData:
    """The training set and its augmentation; validation and test arrays, normalised;
    the test images as loaded, for pictures; and the sizes in words."""

    train: NormalizedSamples
    train_transform: Callable[[np.ndarray], np.ndarray] | None
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


class NormalizedSamples(TensorDataset):
    """Inputs kept as loaded, labels (and any more fields, e.g. sample weights); a sample
    or batch drawn comes out with its inputs normalised."""

    def __init__(self, x: np.ndarray, y: np.ndarray, normalize: Normalize, *more: Any) -> None:
        super().__init__(x, y, *more)
        self.normalize = normalize

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        x, *rest = super().__getitem__(index)
        return (self.normalize(x), *rest)


def with_data_path_used(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with ``data.path`` set to the absolute folder MNIST is found in (from
    data.path, $CHAINRULE_DATA or the cache), so a run's config.toml says where its data
    was and ``chainrule evaluate`` finds it from any shell. Other data: unchanged."""
    data = config.data
    if data.name != "mnist":
        return config
    found = next(
        (d for d in mnist_search_dirs(data.path) if all((d / f).is_file() for f in MNIST_FILES)),
        None,
    )
    if found is None:  # not there yet: loading will download it, or say where it looked
        return config
    return replace(config, data=replace(data, path=str(found.resolve())))


def load_splits(config: ExperimentConfig) -> tuple[Arrays, Arrays]:
    """((x_train, y_train), (x_test, y_test)) as loaded; images get a channel axis (N, 1, H, W)."""
    data = config.data
    if data.name == "mnist":
        if data.path is not None and not Path(data.path).expanduser().is_dir():
            raise ConfigError(f"data.path: {data.path} is not a directory")
        try:
            train, test = load_mnist(path=data.path)
        except DatasetNotFoundError as error:
            places = [data.path] if data.path else []
            places += ["$CHAINRULE_DATA", str(mnist_cache_dir())]
            raise DatasetNotFoundError(
                f"MNIST is not in {', '.join(places)} and could not be downloaded; put its four "
                ".gz files in a folder and set data.path (or CHAINRULE_DATA) to it "
                "(--debug shows where it looked and why the download failed)"
            ) from error
    elif data.name == "digits":
        x, y = load_digits()
        order = np.random.default_rng(0).permutation(len(x))
        cut = len(x) - DIGITS_TEST_SIZE
        train, test = (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])
    elif data.name == "xor":
        train = test = make_xor()
    elif data.plane is not None:
        plane = data.plane
        splits = load_plane(
            plane.set, plane.samples, plane.noise, plane.train_fraction, seed=config.seed
        )
        train, test = ((plane_features(x, plane.features), y) for x, y in splits)
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
    transform = None
    if config.augmentation is not None:
        fill = float(normalize(np.zeros(1)).reshape(-1)[0])  # the normalised background
        transform = Compose(augmentation_transforms(config.augmentation, fill=fill))
    test = (normalize(x_test), y_test)
    if validation is None:
        parts.append(f"{len(x_test)} test (also the validation data)")
    else:
        parts += [f"{len(validation[0])} validation (held out of training)", f"{len(x_test)} test"]
        validation = (normalize(validation[0]), validation[1])
    return PreparedData(
        train=NormalizedSamples(x_train, y_train, normalize),
        train_transform=transform,
        validation=test if validation is None else validation,
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


def augmentation_transforms(config: AugmentationConfig, fill: float = 0.0) -> list[Transform]:
    """The batch transforms of ``[augmentation]``: geometric first, then elastic, then noise."""
    out: list[Any] = []
    if config.translate:
        out.append(transforms.RandomTranslation(config.translate, fill=fill))
    if config.rotate:
        out.append(transforms.RandomRotation(config.rotate, fill=fill))
    if config.scale is not None:
        out.append(transforms.RandomScaling(config.scale, fill=fill))
    if config.shear:
        out.append(transforms.RandomShear(config.shear, fill=fill))
    if config.elastic is not None:
        out.append(
            transforms.ElasticDistortion(config.elastic.alpha, config.elastic.sigma, fill=fill)
        )
    if config.noise:
        out.append(transforms.GaussianNoise(config.noise))
    return out
