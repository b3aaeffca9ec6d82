"""The experiment schema: one frozen dataclass per section of an experiment's TOML file.

    name, description, seed, lecture_accuracy (%), reference      top level
    [data]          name (mnist | digits | xor | spirals | blobs | plane), path (MNIST's folder,
                    relative to the working directory), validation ("test" or N: hold out
                    the last N training images), normalize (unit | standardize | none),
                    flatten (the model starts with a Flatten), expand_shifts, train_subset
                    (the first N training images), plane (name = "plane" only: {set, samples,
                    noise, train_fraction, features}, the playground's 2-D sets)
    [model]         layers = [{type = "conv2d", out = 32, kernel = 3}, ...]: the types in
                    ``layers.LAYERS``; input sizes are inferred; ``init`` / ``bias_init``
                    name an initializer or give {name = "normal", std = 0.1}
    [optimizer]     name (sgd, adam, ...) and the optimiser's keyword arguments
    [schedule]      name (an optim.lr_scheduler class, or ReduceLROnPlateau), interval
                    (epoch | batch) and the schedule's keyword arguments
    [regularization] l1, l2 (l1 sum|w| + l2/2 sum w^2 added to the mean loss), l1_proximal
                    (L1 by soft-thresholding after each step: exact zeros), max_norm,
                    clip_grad_norm
    [augmentation]  translate, rotate, scale = [low, high], shear, elastic = {alpha,
                    sigma}, noise
    [training]      epochs, batch_size, loss (cross_entropy | mse), label_smoothing,
                    metrics, early_stopping = {monitor, patience, min_delta,
                    restore_best_weights}, checkpoint_every (steps), class_weight
                    ("balanced" or {0 = 1.0, 7 = 3.0}: weights of class indices)
    [ensemble]      members: train seeds seed .. seed + members - 1, average probabilities
    [autoencoder]   decoder = [layers], noise, corruption (gaussian | mask): [model] is
                    the encoder, trained to reconstruct the inputs (no labels)
    [distillation]  teacher (a run directory), temperature, alpha: knowledge distillation
    [transfer]      from (a run directory or a saved state_dict), layers (reuse the first
                    N), freeze (freeze the first N), batchnorm_eval, fine_tune_epochs,
                    fine_tune_lr: see ``experiments.transfer``

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
    "plane": DatasetInfo((2,), 2),
}


@dataclass(frozen=True)
class PlaneConfig:
    """The playground's 2-D sets (``data.plane.load_plane``) and the input features drawn from them."""

    set: str
    samples: int = 500
    noise: float = 0.0
    train_fraction: float = 0.5
    features: tuple[str, ...] = ("x1", "x2")


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
    plane: PlaneConfig | None = None

    @property
    def info(self) -> DatasetInfo:
        if self.plane is not None:  # one input per feature
            return DatasetInfo((len(self.plane.features),), 2)
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
    """``l1``, ``l2``: the penalty l1 sum|w| + l2/2 sum w^2 added to the mean loss (nn.L1L2).

    ``l1_proximal``: apply L1 as a soft-threshold after each optimiser step instead of
    its subgradient (``nn.L1L2(proximal=True)``), so weights reach exactly zero.
    """

    l1: float = 0.0
    l2: float = 0.0
    l1_proximal: bool = False
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
    class_weight: str | tuple[tuple[int, float], ...] | None = None

    @property
    def class_weights(self) -> str | dict[int, float] | None:
        """``class_weight`` as ``fit`` takes it: "balanced" or {class index: weight}."""
        if isinstance(self.class_weight, tuple):
            return dict(self.class_weight)
        return self.class_weight


@dataclass(frozen=True)
class EnsembleConfig:
    """Train ``members`` copies with seeds seed .. seed + members - 1; average their probabilities."""

    members: int


@dataclass(frozen=True)
class AutoencoderConfig:
    """Train ``[model]`` as the encoder under ``decoder`` to reconstruct the inputs;
    ``noise`` > 0: a denoising autoencoder (``nn.Autoencoder``'s corruption)."""

    decoder: tuple[LayerConfig, ...]
    noise: float = 0.0
    corruption: str = "gaussian"


@dataclass(frozen=True)
class DistillationConfig:
    """Train the model on the soft targets of the run ``teacher`` (an ensemble run: its
    members' mean) at ``temperature``, mixed with the labels: alpha T^2 CE(soft) + (1 - alpha) CE."""

    teacher: str
    temperature: float = 4.0
    alpha: float = 0.9


@dataclass(frozen=True)
class TransferConfig:
    """Reuse ``model.layers[:layers]`` of the run (or state_dict file) ``source``; freeze the
    first ``freeze``; then optionally fine-tune everything for ``fine_tune_epochs`` more."""

    source: str
    layers: int
    freeze: int
    batchnorm_eval: bool = True
    fine_tune_epochs: int = 0
    fine_tune_lr: float | None = None


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
    transfer: TransferConfig | None = None
    autoencoder: AutoencoderConfig | None = None
    distillation: DistillationConfig | None = None


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
    if isinstance(config.training.class_weight, tuple):
        document["training"]["class_weight"] = {str(k): w for k, w in config.training.class_weight}
    if config.ensemble is not None:
        document["ensemble"] = dataclasses.asdict(config.ensemble)
    if config.autoencoder is not None:
        autoencoder = config.autoencoder
        document["autoencoder"] = {
            "decoder": [{"type": layer.type, **layer.args} for layer in autoencoder.decoder],
            "noise": autoencoder.noise,
            "corruption": autoencoder.corruption,
        }
    if config.distillation is not None:
        document["distillation"] = dataclasses.asdict(config.distillation)
    if config.transfer is not None:
        transfer = dataclasses.asdict(config.transfer)
        document["transfer"] = {"from": transfer.pop("source"), **transfer}
    return document
