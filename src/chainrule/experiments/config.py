"""The experiment schema: one frozen dataclass per section of an experiment's TOML file.

    name, description, seed, lecture_accuracy (%), reference      top level
    [data]          name (mnist | digits | xor | spirals | blobs), path (MNIST's folder,
                    relative to the working directory), validation ("test" or N: hold out
                    the last N training images), normalize (unit | standardize | none),
                    flatten (the model starts with a Flatten), expand_shifts, train_subset
                    (the first N training images)
    [model]         layers = [{type = "conv2d", out = 32, kernel = 3}, ...]: the types in
                    ``layers.LAYERS``; input sizes are inferred; ``init`` / ``bias_init``
                    name an initializer or give {name = "normal", std = 0.1}
    [optimizer]     name (sgd, adam, ...) and the optimiser's keyword arguments
    [schedule]      name (an optim.lr_scheduler class, or ReduceLROnPlateau), interval
                    (epoch | batch) and the schedule's keyword arguments
    [regularization] l1, l2 (l1 sum|w| + l2/2 sum w^2 added to the mean loss), max_norm,
                    clip_grad_norm
    [augmentation]  translate, rotate, scale = [low, high], shear, elastic = {alpha,
                    sigma}, noise
    [training]      epochs, batch_size, loss (cross_entropy | mse), label_smoothing,
                    metrics, early_stopping = {monitor, patience, min_delta,
                    restore_best_weights}, checkpoint_every (steps)
    [ensemble]      members: train seeds seed .. seed + members - 1, average probabilities

``experiments.parse`` reads and checks a file into these dataclasses, filling in every
default, so a config states every value a run uses; ``to_toml`` writes one back as a
file that loads to an equal config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from chainrule.experiments import toml

Shape = tuple[int, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """One sample's shape ((C, H, W) for images), the classes, and the pixel maximum."""

    shape: Shape
    num_classes: int
    pixel_max: float | None = None

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3


DATASETS = {
    "mnist": DatasetInfo((1, 28, 28), 10, 255.0),
    "digits": DatasetInfo((1, 8, 8), 10, 1.0),  # load_digits already divides by 16
    "xor": DatasetInfo((2,), 2),
    "spirals": DatasetInfo((2,), 2),
    "blobs": DatasetInfo((2,), 3),
}


@dataclass(frozen=True)
class DataConfig:
    """``validation``: "test" (validate on the test set) or N (hold out the last N training images)."""

    name: str
    path: str | None = None
    validation: str | int = "test"
    normalize: str = "unit"
    flatten: bool = False
    expand_shifts: bool = False
    train_subset: int | None = None

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.name]

    @property
    def input_shape(self) -> Shape:
        """The shape of one sample as the model receives it ((C, H, W) for images)."""
        return self.info.shape

    @property
    def num_classes(self) -> int:
        return self.info.num_classes


@dataclass(frozen=True)
class LayerConfig:
    type: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ModelConfig:
    layers: tuple[LayerConfig, ...]


@dataclass(frozen=True)
class OptimizerConfig:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ScheduleConfig:
    name: str
    args: dict[str, Any]
    interval: str = "epoch"


@dataclass(frozen=True)
class RegularizationConfig:
    """``l1``, ``l2``: the penalty l1 sum|w| + l2/2 sum w^2 added to the mean loss (nn.L1L2)."""

    l1: float = 0.0
    l2: float = 0.0
    max_norm: float | None = None
    clip_grad_norm: float | None = None


@dataclass(frozen=True)
class ElasticConfig:
    alpha: float = 34.0
    sigma: float = 4.0


@dataclass(frozen=True)
class AugmentationConfig:
    translate: int | float = 0
    rotate: float = 0.0
    scale: tuple[float, float] | None = None
    shear: float = 0.0
    elastic: ElasticConfig | None = None
    noise: float = 0.0


@dataclass(frozen=True)
class EarlyStoppingConfig:
    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0
    restore_best_weights: bool = True


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int = 32
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    metrics: tuple[str, ...] = ("accuracy",)
    early_stopping: EarlyStoppingConfig | None = None
    checkpoint_every: int | None = None


@dataclass(frozen=True)
class EnsembleConfig:
    """Train ``members`` copies with seeds seed .. seed + members - 1; average their probabilities."""

    members: int


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    data: DataConfig
    model: ModelConfig
    optimizer: OptimizerConfig
    training: TrainingConfig
    description: str = ""
    seed: int = 0
    lecture_accuracy: float | None = None
    reference: str | None = None
    schedule: ScheduleConfig | None = None
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    augmentation: AugmentationConfig | None = None
    ensemble: EnsembleConfig | None = None


def to_toml(config: ExperimentConfig) -> str:
    """The config as TOML text, every value stated; ``loads`` gives back an equal config."""
    return toml.dumps(to_dict(config))


def to_dict(config: ExperimentConfig) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": config.name,
        "description": config.description,
        "seed": config.seed,
        "lecture_accuracy": config.lecture_accuracy,
        "reference": config.reference,
        "data": dataclasses.asdict(config.data),
        "model": {"layers": [{"type": layer.type, **layer.args} for layer in config.model.layers]},
        "optimizer": {"name": config.optimizer.name, **config.optimizer.args},
    }
    if config.schedule is not None:
        schedule = config.schedule
        document["schedule"] = {
            "name": schedule.name,
            "interval": schedule.interval,
            **schedule.args,
        }
    document["regularization"] = dataclasses.asdict(config.regularization)
    if config.augmentation is not None:
        document["augmentation"] = dataclasses.asdict(config.augmentation)
    document["training"] = dataclasses.asdict(config.training)
    if config.ensemble is not None:
        document["ensemble"] = dataclasses.asdict(config.ensemble)
    return document
