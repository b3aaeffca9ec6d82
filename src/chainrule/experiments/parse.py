"""Reading experiments: find a named one or a file, parse its TOML, check every key.

An unknown key or a bad value is a ``ConfigError`` naming the key's dotted path
(``optimizer.lrr``), what it got, and what is valid (with a "did you mean" when a valid
key is close). Optimiser and schedule arguments are checked against the class's own
signature and by building one; the defaults of the arguments not given are filled in.
"""

from __future__ import annotations

import importlib.resources
import inspect
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chainrule import optim
from chainrule.autograd.creation import zeros
from chainrule.data.plane import FEATURES, PLANE_SETS
from chainrule.experiments import toml
from chainrule.experiments.config import (
    DATASETS,
    AugmentationConfig,
    AutoencoderConfig,
    DataConfig,
    DistillationConfig,
    EarlyStoppingConfig,
    ElasticConfig,
    EnsembleConfig,
    ExperimentConfig,
    LayerConfig,
    ModelConfig,
    OptimizerConfig,
    PlaneConfig,
    RegularizationConfig,
    ScheduleConfig,
    TrainingConfig,
)
from chainrule.experiments.layers import LAYERS
from chainrule.experiments.schema import (
    ConfigError,
    boolean,
    call_checked,
    check_keys,
    choice,
    either,
    fail,
    frozen,
    integer,
    number,
    parse_fields,
    require_table,
    string,
    suggest,
)
from chainrule.experiments.transfer import parse_transfer
from chainrule.nn.autoencoder import CORRUPTIONS
from chainrule.nn.parameter import Parameter
from chainrule.train import callbacks
from chainrule.train.metrics import METRICS, get_metric
from chainrule.train.resolve import OPTIMIZERS


# ------------------------------------------------------------------ finding experiments
def named_experiments() -> dict[str, Path]:
    """The experiments shipped with chainrule: name -> TOML file, sorted by name."""
    folder = importlib.resources.files("chainrule.experiments") / "named"
    files = [Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml")]
    return {path.stem: path for path in sorted(files, key=lambda path: path.stem)}


def find_experiment(source: str | os.PathLike[str]) -> Path:
    """The TOML file of a named experiment (``digits``) or of a path (``my/run.toml``)."""
    text = os.fspath(source)
    looks_like_path = text.endswith(".toml") or os.sep in text or "/" in text
    if looks_like_path or isinstance(source, os.PathLike):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"{text}: no such experiment file")
        return path
    named = named_experiments()
    if text in named:
        return named[text]
    raise ConfigError(
        f"unknown experiment {text!r}{suggest(text, named)}; named experiments: "
        f"{', '.join(named)} (or give the path of a .toml file)"
    )


def load_config(source: str | os.PathLike[str]) -> ExperimentConfig:
    """A named experiment or a TOML file, parsed and checked; errors start with the file name."""
    return loads(*read_experiment(source))


def read_experiment(source: str | os.PathLike[str]) -> tuple[str, str, str]:
    """(TOML text, default name, origin) of a named experiment or a TOML file: what
    ``loads`` parses, as plain strings one process can send the others."""
    path = find_experiment(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the experiment file: {error}") from None
    default_name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "experiment"
    return text, default_name, str(path)


def loads(
    text: str, default_name: str = "experiment", origin: str = "<string>"
) -> ExperimentConfig:
    """An experiment from TOML text; ``name`` defaults to ``default_name``."""
    try:
        document = toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise ConfigError(f"{origin}: TOML syntax error: {error}") from None
    try:
        return parse_config(document, default_name)
    except ConfigError as error:
        raise ConfigError(f"{origin}: {error}") from None


# ------------------------------------------------------------------ parsing
_SECTIONS = (
    "data",
    "model",
    "optimizer",
    "schedule",
    "regularization",
    "augmentation",
    "training",
    "ensemble",
    "transfer",
    "autoencoder",
    "distillation",
)
_REQUIRED_SECTIONS = ("data", "model", "optimizer", "training")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise fail(path, "a name of letters, digits, '.', '_' and '-'", value)
    return value


def parse_config(document: Mapping[str, Any], default_name: str = "experiment") -> ExperimentConfig:
    """Check a parsed TOML document section by section and build the config.

    Every section is checked even when an earlier one is wrong, so a file with several
    mistakes hears of all of them at once (one per section; one error if only one)."""
    errors: list[ConfigError] = []

    def attempt(parse: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        try:
            return parse(*args)
        except ConfigError as error:
            errors.append(error)
            return default

    checks = {
        "name": _name,
        "description": string,
        "seed": integer(0),
        "lecture_accuracy": number(0, 100, low_open=True),
        "reference": string,
    }
    keys_known = attempt(check_keys, document, [*checks, *_SECTIONS], "", default=False) is None
    top = {k: v for k, v in document.items() if k in checks}
    values = attempt(parse_fields, top, checks, "", default={})
    missing = [
        s
        for s in _REQUIRED_SECTIONS
        if s not in document and not (s == "model" and "transfer" in document)
    ]  # without [model], [transfer] takes the source run's model with a new head
    if missing and keys_known:  # else the unknown key is most likely the section, misspelt
        errors.append(
            ConfigError(
                f"[{missing[0]}]: missing; an experiment needs the sections "
                + ", ".join(f"[{s}]" for s in _REQUIRED_SECTIONS)
            )
        )
    tables = {}
    for section in _SECTIONS:
        if section in document:
            table = attempt(require_table, document[section], section)
            if table is not None:
                tables[section] = table

    def section(name: str, parse: Callable[..., Any], *args: Any) -> Any:
        return attempt(parse, tables[name], *args) if name in tables else None

    data = section("data", _data)
    training = section("training", _training)
    if data is not None and training is not None and isinstance(training.class_weight, tuple):
        classes = data.info.num_classes
        for index, _ in training.class_weight:
            if index >= classes:
                errors.append(
                    ConfigError(
                        f"training.class_weight.{index}: {data.name!r} has classes 0 to "
                        f"{classes - 1}; got class {index}"
                    )
                )
                break
    model = section("model", _model)
    optimizer = section("optimizer", _optimizer)
    transfer = None
    if "transfer" in tables and data is not None and optimizer is not None:
        parsed = attempt(parse_transfer, tables["transfer"], model, data, optimizer.args["lr"])
        if parsed is not None:
            transfer, model = parsed
            if transfer.fine_tune_epochs and "schedule" in tables:
                errors.append(
                    ConfigError(
                        "transfer.fine_tune_epochs: cannot be combined with [schedule] (the "
                        "schedule would overrule the fine-tuning learning rate)"
                    )
                )
    schedule = section("schedule", _schedule)
    regularization = attempt(
        parse_fields,
        tables.get("regularization", {}),
        {
            "l1": number(0),
            "l2": number(0),
            "l1_proximal": boolean,
            "max_norm": number(0, low_open=True),
            "clip_grad_norm": number(0, low_open=True),
        },
        "regularization",
    )
    augmentation = section("augmentation", _augmentation, data) if data is not None else None
    ensemble = section(
        "ensemble",
        lambda table: parse_fields(
            table, {"members": integer(2)}, "ensemble", required=("members",)
        ),
    )
    autoencoder = distillation = None
    if training is not None:
        autoencoder = section("autoencoder", _autoencoder, tables, training)
        distillation = section("distillation", _distillation, tables, training)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigError(
            f"{len(errors)} mistakes:\n" + "\n".join(f"  - {error}" for error in errors)
        )
    return ExperimentConfig(
        name=values.get("name", default_name),
        description=values.get("description", ""),
        seed=values.get("seed", 0),
        lecture_accuracy=values.get("lecture_accuracy"),
        reference=values.get("reference"),
        data=data,
        model=model,
        optimizer=optimizer,
        training=training,
        schedule=schedule,
        regularization=RegularizationConfig(**regularization),
        augmentation=augmentation,
        ensemble=EnsembleConfig(**ensemble) if ensemble is not None else None,
        transfer=transfer,
        autoencoder=autoencoder,
        distillation=distillation,
    )


def _autoencoder(
    table: Mapping[str, Any], tables: Mapping[str, Any], training: TrainingConfig
) -> AutoencoderConfig:
    for other in ("ensemble", "augmentation", "transfer"):
        if other in tables:
            raise ConfigError(f"[autoencoder]: cannot be combined with [{other}]")
    stopping = training.early_stopping
    if stopping is not None and stopping.monitor not in ("loss", "val_loss"):
        raise ConfigError(
            "training.early_stopping.monitor: an autoencoder has no labels to measure "
            f"{stopping.monitor!r} with; monitor 'loss' or 'val_loss'"
        )
    check_keys(table, ["decoder", "noise", "corruption"], "autoencoder")
    decoder = table.get("decoder")
    if not isinstance(decoder, list) or not decoder:
        raise fail(
            "autoencoder.decoder",
            'an array of layers, e.g. [{type = "linear", out = 784}]',
            decoder,
        )
    layers = tuple(_layer(layer, f"autoencoder.decoder[{i}]") for i, layer in enumerate(decoder))
    values = parse_fields(
        {k: v for k, v in table.items() if k != "decoder"},
        {"noise": number(0), "corruption": choice(*CORRUPTIONS)},
        "autoencoder",
    )
    config = AutoencoderConfig(layers, **values)
    if config.corruption == "mask" and config.noise >= 1:
        raise fail("autoencoder.noise", "a fraction in [0, 1) to mask", config.noise)
    return config


def _distillation(
    table: Mapping[str, Any], tables: Mapping[str, Any], training: TrainingConfig
) -> DistillationConfig:
    if "autoencoder" in tables:
        raise ConfigError("[distillation]: cannot be combined with [autoencoder]")
    if training.loss != "cross_entropy" or training.label_smoothing:
        raise ConfigError(
            "[distillation]: its loss replaces training.loss; use loss = 'cross_entropy' "
            "without label_smoothing"
        )
    values = parse_fields(
        table,
        {
            "teacher": string,
            "temperature": number(0, low_open=True),
            "alpha": number(0, 1),
        },
        "distillation",
        required=("teacher",),
    )
    return DistillationConfig(**values)


def _data(table: Mapping[str, Any]) -> DataConfig:
    values = parse_fields(
        table,
        {
            "name": choice(*DATASETS),
            "path": string,
            "validation": either(
                choice("test"), integer(1), "'test' or the number of training images to hold out"
            ),
            "normalize": choice("unit", "standardize", "none"),
            "flatten": boolean,
            "expand_shifts": boolean,
            "train_subset": integer(1),
            "plane": _plane,
        },
        "data",
        required=("name",),
    )
    if (values["name"] == "plane") != ("plane" in values):
        raise ConfigError(
            "data.plane: needed with name = 'plane' (and only then): "
            '{set = "gauss", noise = 0.5, features = ["x1", "x2"]}'
        )
    config = DataConfig(**values)
    if not config.info.is_image:
        for key in ("flatten", "expand_shifts"):
            if values.get(key):
                raise ConfigError(f"data.{key}: needs image data; {config.name!r} is not images")
    if config.path is not None and config.name != "mnist":
        raise ConfigError(f"data.path: only MNIST is read from files; {config.name!r} is not")
    return config


def _plane(value: Any, path: str) -> PlaneConfig:
    values = parse_fields(
        require_table(value, path),
        {
            "set": choice(*PLANE_SETS),
            "samples": integer(2),
            "noise": number(0, 1),
            "train_fraction": number(0, 1, low_open=True, high_open=True),
            "features": _features,
        },
        path,
        required=("set",),
    )
    return PlaneConfig(**values)


def _features(value: Any, path: str) -> tuple[str, ...]:
    expected = f"a non-empty array of distinct features from {', '.join(FEATURES)}"
    if not isinstance(value, list | tuple) or not value or len(set(value)) != len(value):
        raise fail(path, expected, value)
    return tuple(choice(*FEATURES)(v, f"{path}[{i}]") for i, v in enumerate(value))


def _model(table: Mapping[str, Any]) -> ModelConfig:
    check_keys(table, ["layers"], "model")
    layers = table.get("layers")
    if not isinstance(layers, list) or not layers:
        raise fail("model.layers", 'an array of layers, e.g. [{type = "linear", out = 10}]', layers)
    return ModelConfig(tuple(_layer(layer, f"model.layers[{i}]") for i, layer in enumerate(layers)))


def _layer(table: Any, path: str) -> LayerConfig:
    table = require_table(table, path)
    kind = table.get("type")
    if kind not in LAYERS:
        hint = suggest(kind, LAYERS) if isinstance(kind, str) else ""
        got = "nothing" if kind is None else repr(kind)
        raise ConfigError(
            f"{path}.type: expected a layer type; got {got}{hint}; valid types: {', '.join(LAYERS)}"
        )
    spec = LAYERS[kind]
    check_keys(table, ["type", *spec.checks], path)
    args = parse_fields(
        {k: v for k, v in table.items() if k != "type"}, spec.checks, path, spec.required
    )
    resolved = {**spec.defaults, **args}
    return LayerConfig(kind, {key: resolved[key] for key in spec.checks if key in resolved})


def _dummy_parameters() -> list[Parameter]:
    return [Parameter(zeros(1))]


def _signature_args(
    target: Callable[..., Any], skip: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """(defaults by name, required names) of ``target``'s keyword parameters, less ``skip``."""
    defaults, required = {}, []
    for name, param in inspect.signature(target).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            required.append(name)
        else:
            defaults[name] = param.default
    return defaults, required


def _keyword_section(
    table: Mapping[str, Any],
    path: str,
    target: Callable[..., Any],
    factory: Callable[..., Any],
    skip: tuple[str, ...],
    own_keys: tuple[str, ...],
) -> dict[str, Any]:
    """The keyword arguments of ``target`` given in ``table``, checked by calling ``factory``,
    with the defaults of the others filled in."""
    defaults, required = _signature_args(target, skip)
    check_keys(table, [*own_keys, *required, *defaults], path)
    args = {k: frozen(v) for k, v in table.items() if k not in own_keys}
    for name in required:
        if name not in args:
            raise ConfigError(f"{path}.{name}: missing; {target.__name__} needs it")
    call_checked(factory, args, path, required)
    return {**defaults, **args}


def _optimizer(table: Mapping[str, Any]) -> OptimizerConfig:
    name = choice(*OPTIMIZERS)(table.get("name"), "optimizer.name")
    cls = getattr(optim, OPTIMIZERS[name])
    args = _keyword_section(
        table,
        "optimizer",
        cls,
        lambda **kw: cls(_dummy_parameters(), **kw),
        skip=("self", "params"),
        own_keys=("name",),
    )
    return OptimizerConfig(name, args)


SCHEDULES: dict[str, Any] = {
    **{
        name: getattr(optim.lr_scheduler, name)
        for name in (
            "StepLR",
            "MultiStepLR",
            "ExponentialLR",
            "CosineAnnealingLR",
            "LinearDecay",
            "LinearWarmup",
            "OneCycleLR",
        )
    },
    "ReduceLROnPlateau": callbacks.ReduceLROnPlateau,  # the callback: it knows what to monitor
}


def _schedule(table: Mapping[str, Any]) -> ScheduleConfig:
    name = choice(*SCHEDULES)(table.get("name"), "schedule.name")
    interval = choice("epoch", "batch")(table.get("interval", "epoch"), "schedule.interval")
    cls = SCHEDULES[name]
    if cls is callbacks.ReduceLROnPlateau:
        if interval != "epoch":
            raise ConfigError("schedule.interval: ReduceLROnPlateau acts once per epoch")
        factory = cls
    else:

        def factory(**kw: Any) -> Any:
            return cls(optim.SGD(_dummy_parameters(), lr=0.1), **kw)

    args = _keyword_section(
        table,
        "schedule",
        cls,
        factory,
        skip=("self", "optimizer", "after", "verbose"),
        own_keys=("name", "interval"),
    )
    return ScheduleConfig(name, args, interval)


def _scale(value: Any, path: str) -> tuple[float, float]:
    expected = "[low, high], zoom factors with 0 < low <= high"
    pair = frozen(value)
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise fail(path, expected, value)
    low, high = (number(0, low_open=True)(v, path) for v in pair)
    if low > high:
        raise fail(path, expected, value)
    return low, high


def _augmentation(table: Mapping[str, Any], data: DataConfig) -> AugmentationConfig:
    values = parse_fields(
        table,
        {
            "translate": either(
                integer(0),
                number(0, 1, high_open=True),
                "whole pixels (an integer) or a fraction of the image size in [0, 1)",
            ),
            "rotate": number(0, 180),
            "scale": _scale,
            "shear": number(0, 90, high_open=True),
            "elastic": lambda v, p: ElasticConfig(
                **parse_fields(
                    require_table(v, p), {"alpha": number(0), "sigma": number(0, low_open=True)}, p
                )
            ),
            "noise": number(0),
        },
        "augmentation",
    )
    if values and not data.info.is_image:
        raise ConfigError(f"[augmentation]: needs image data; {data.name!r} is not images")
    return AugmentationConfig(**values)


def _training(table: Mapping[str, Any]) -> TrainingConfig:
    values = parse_fields(
        table,
        {
            "epochs": integer(1),
            "batch_size": integer(1),
            "loss": choice("cross_entropy", "mse"),
            "label_smoothing": number(0, 1, high_open=True),
            "metrics": _metrics,
            "early_stopping": require_table,  # its monitor is checked below, against the metrics
            "checkpoint_every": integer(1),
            "class_weight": _class_weight,
        },
        "training",
        required=("epochs",),
    )
    if values.get("label_smoothing") and values.get("loss", "cross_entropy") != "cross_entropy":
        raise ConfigError("training.label_smoothing: only applies to loss = 'cross_entropy'")
    if "early_stopping" in values:
        metrics = values.get("metrics", TrainingConfig.metrics)
        values["early_stopping"] = _early_stopping(values["early_stopping"], metrics)
    return TrainingConfig(**values)


def _class_weight(value: Any, path: str) -> str | tuple[tuple[int, float], ...]:
    """ "balanced", or a table {class index = weight >= 0} kept as sorted (index, weight) pairs."""
    if value == "balanced":
        return value
    expected = '"balanced" or a table of class index = weight, such as {0 = 1.0, 7 = 3.0}'
    if not isinstance(value, Mapping) or not value:
        raise fail(path, expected, value)
    pairs = []
    for key, weight in value.items():
        if not str(key).isdigit():
            raise fail(f"{path}.{key}", "a class index (0, 1, ...) as the key", key)
        pairs.append((int(key), number(0)(weight, f"{path}.{key}")))
    return tuple(sorted(pairs))


def _metrics(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise fail(path, f"an array of metric names from {', '.join(METRICS)}", value)
    return tuple(choice(*METRICS)(v, f"{path}[{i}]") for i, v in enumerate(value))


def _early_stopping(value: Any, metrics: tuple[str, ...]) -> EarlyStoppingConfig:
    path = "training.early_stopping"
    logged = ["loss", *(get_metric(m)[0] for m in metrics)]
    monitors = [*logged, *(f"val_{m}" for m in logged)]
    values = parse_fields(
        require_table(value, path),
        {
            "monitor": choice(*monitors),
            "patience": integer(0),
            "min_delta": number(0),
            "restore_best_weights": boolean,
        },
        path,
    )
    return EarlyStoppingConfig(**values)
