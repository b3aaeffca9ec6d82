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
from chainrule.experiments import toml
from chainrule.experiments.config import (
    DATASETS,
    AugmentationConfig,
    DataConfig,
    EarlyStoppingConfig,
    ElasticConfig,
    EnsembleConfig,
    ExperimentConfig,
    LayerConfig,
    ModelConfig,
    OptimizerConfig,
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
from chainrule.nn.parameter import Parameter
from chainrule.train import callbacks
from chainrule.train.loop import OPTIMIZERS
from chainrule.train.metrics import METRICS, get_metric


# ------------------------------------------------------------------ finding experiments
def named_experiments() -> dict[str, Path]:
    """The experiments shipped with chainrule: name -> TOML file, sorted by name."""
    folder = importlib.resources.files("chainrule.experiments") / "named"
    files = [Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml")]
    return {path.stem: path for path in sorted(files)}


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
    path = find_experiment(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the experiment file: {error}") from None
    default_name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "experiment"
    return loads(text, default_name, origin=str(path))


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
    missing = [s for s in _REQUIRED_SECTIONS if s not in document]
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
    model = section("model", _model)
    optimizer = section("optimizer", _optimizer)
    schedule = section("schedule", _schedule)
    regularization = attempt(
        parse_fields,
        tables.get("regularization", {}),
        {
            "l1": number(0),
            "l2": number(0),
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
    )


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
        },
        "data",
        required=("name",),
    )
    config = DataConfig(**values)
    if not config.info.is_image:
        for key in ("flatten", "expand_shifts"):
            if values.get(key):
                raise ConfigError(f"data.{key}: needs image data; {config.name!r} is not images")
    if config.path is not None and config.name != "mnist":
        raise ConfigError(f"data.path: only MNIST is read from files; {config.name!r} is not")
    return config


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
