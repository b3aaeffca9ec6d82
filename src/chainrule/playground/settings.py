"""What a student sets on the page, checked field by field, and the experiment it makes.

``parse_settings(body, base)`` takes the page's JSON (any subset of the fields) and
returns new ``Settings`` or raises ``ConfigError`` naming the field ("hidden[2]: expected
an integer >= 1 and <= 8; got 9"). Nothing from the page is evaluated: names are looked
up in fixed tables, numbers are range-checked. ``experiment(settings, epochs)`` is the
same network as an ``ExperimentConfig``: what the session trains, and what
``export_toml`` and ``export_script`` write. L1 is the proximal kind
(``nn.L1L2(proximal=True)``): its weights reach exactly zero, as the page shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chainrule.checks import is_int
from chainrule.data.plane import FEATURES, PLANE_SETS
from chainrule.experiments.config import ExperimentConfig, to_toml
from chainrule.experiments.parse import parse_config
from chainrule.experiments.schema import ConfigError, choice, fail, number
from chainrule.optim import OPTIMIZERS

MAX_LAYERS = 8
MAX_UNITS = 8
MAX_BATCH = 500
MAX_SEED = 2**31 - 1
N_SAMPLES = 500
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")  # "linear": no activation layer
REGULARIZATIONS = ("none", "l1", "l2")


@dataclass(frozen=True)
class Settings:
    """Everything that defines a playground run; the defaults are the lecture playground's."""

    dataset: str = "circle"
    noise: float = 0.0
    train_fraction: float = 0.5
    seed: int = 0
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    lr: float = 0.03
    batch_size: int = 10
    optimizer: str = "sgd"
    regularization: str = "none"
    reg_rate: float = 0.0
    dropout: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _int_range(low: int, high: int) -> Any:
    def check(value: Any, path: str) -> int:
        if not is_int(value) or not low <= value <= high:
            raise fail(path, f"an integer >= {low} and <= {high}", value)
        return value

    return check


def _features(value: object, path: str) -> tuple[str, ...]:
    expected = f"a non-empty list of distinct features from {', '.join(FEATURES)}"
    if not isinstance(value, list) or not value or len(value) > len(FEATURES):
        raise fail(path, expected, value)
    names = tuple(choice(*FEATURES)(v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(set(names)) != len(names):
        raise fail(path, expected, value)
    return tuple(f for f in FEATURES if f in names)  # the page's order, whatever was sent


def _hidden(value: object, path: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_LAYERS:
        raise fail(path, f"a list of at most {MAX_LAYERS} layer sizes", value)
    return tuple(_int_range(1, MAX_UNITS)(v, f"{path}[{i}]") for i, v in enumerate(value))


CHECKS = {
    "dataset": choice(*PLANE_SETS),
    "noise": number(0, 0.5),
    "train_fraction": number(0.1, 0.9),
    "seed": _int_range(0, MAX_SEED),
    "features": _features,
    "hidden": _hidden,
    "activation": choice(*ACTIVATIONS),
    "lr": number(0, 10, low_open=True),
    "batch_size": _int_range(1, MAX_BATCH),
    "optimizer": choice(*OPTIMIZERS),
    "regularization": choice(*REGULARIZATIONS),
    "reg_rate": number(0, 10),
    "dropout": number(0, 0.9),
}


OPTIONS = {  # what the page offers, from the tables that check it
    "datasets": list(PLANE_SETS),
    "features": list(FEATURES),
    "activations": list(ACTIVATIONS),
    "optimizers": list(OPTIMIZERS),
    "regularizations": list(REGULARIZATIONS),
    "max_layers": MAX_LAYERS,
    "max_units": MAX_UNITS,
    "defaults": Settings().to_json(),
}


def parse_settings(body: object, base: Settings | None = None) -> Settings:
    """``base`` with the fields of ``body`` (a JSON object) replaced, each one checked."""
    base = base if base is not None else Settings()
    if not isinstance(body, Mapping):
        raise ConfigError(f"settings: expected a JSON object; got {type(body).__name__}")
    for key in body:
        if key not in CHECKS:
            raise ConfigError(f"{key}: unknown setting; valid settings: {', '.join(CHECKS)}")
    return dataclasses.replace(base, **{k: CHECKS[k](v, k) for k, v in body.items()})


def experiment(settings: Settings, epochs: int = 1) -> ExperimentConfig:
    """The experiment this network is: a plane data set, the layers, optimiser and penalty."""
    s = settings
    layers: list[dict[str, Any]] = []
    for units in s.hidden:
        layers.append({"type": "linear", "out": units})
        if s.activation != "linear":
            layers.append({"type": s.activation})
        if s.dropout:
            layers.append({"type": "dropout", "p": s.dropout})
    layers.append({"type": "linear", "out": 2})
    shape = "-".join(str(n) for n in (len(s.features), *s.hidden, 2))
    document = {
        "name": f"playground-{s.dataset}",
        "description": f"the playground's {s.dataset} set, a {shape} {s.activation} network",
        "seed": s.seed,
        "data": {
            "name": "plane",
            "normalize": "none",
            "plane": {
                "set": s.dataset,
                "samples": N_SAMPLES,
                "noise": s.noise,
                "train_fraction": s.train_fraction,
                "features": list(s.features),
            },
        },
        "model": {"layers": layers},
        "optimizer": {"name": s.optimizer, "lr": s.lr},
        "regularization": {
            "l1": s.reg_rate if s.regularization == "l1" else 0.0,
            "l2": s.reg_rate if s.regularization == "l2" else 0.0,
            "l1_proximal": s.regularization == "l1",  # soft-thresholding: exact zeros
        },
        "training": {"epochs": epochs, "batch_size": s.batch_size, "metrics": ["accuracy"]},
    }
    return parse_config(document)


def export_toml(settings: Settings, epochs: int) -> str:
    """The experiment file: ``chainrule train`` on it trains this network ``epochs`` epochs."""
    return "# exported by the chainrule playground: chainrule train THIS_FILE\n" + to_toml(
        experiment(settings, epochs)
    )


_SCRIPT = '''"""Exported by the chainrule playground: the network on the page, {epochs} epochs.

Run it with ``python THIS_FILE``; it trains the same weights as the playground did.
"""

from chainrule import manual_seed, nn, optim
from chainrule.data import load_plane, plane_features
from chainrule.train import fit

FEATURES = {features!r}

manual_seed({seed})  # the initial weights, shuffling and dropout masks
(x_train, y_train), (x_test, y_test) = load_plane(
    {dataset!r}, {samples}, noise={noise!r}, train_fraction={train_fraction!r}, seed={seed}
)
x_train, x_test = plane_features(x_train, FEATURES), plane_features(x_test, FEATURES)

model = nn.Sequential(
{layers})
history = fit(
    model,
    (x_train, y_train),
    loss="cross_entropy",
    optimizer=optim.{optimizer}(model.parameters(), lr={lr!r}),
    epochs={epochs},
    batch_size={batch_size},
    validation_data=(x_test, y_test),
    metrics=["accuracy"],
    regularizer={regularizer},
    verbose=0,
)
print(f"epoch {{len(history)}}: training loss {{history['loss'][-1]:.6f}}, "
      f"test loss {{history['val_loss'][-1]:.6f}}, "
      f"test accuracy {{history['val_accuracy'][-1]:.4f}}")
'''

_MODULES = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()"}


def export_script(settings: Settings, epochs: int) -> str:
    """A short Python script that trains this network ``epochs`` epochs and prints its losses."""
    s = settings
    sizes = [len(s.features), *s.hidden, 2]
    lines = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lines.append(f"nn.Linear({n_in}, {n_out})")
        if i < len(s.hidden):
            if s.activation in _MODULES:
                lines.append(_MODULES[s.activation])
            if s.dropout:
                lines.append(f"nn.Dropout({s.dropout!r})")
    penalty = {
        "l1": f"nn.L1L2(l1={s.reg_rate!r}, proximal=True)",
        "l2": f"nn.L1L2(l2={s.reg_rate!r})",
    }
    return _SCRIPT.format(
        epochs=epochs,
        features=list(s.features),
        seed=s.seed,
        dataset=s.dataset,
        samples=N_SAMPLES,
        noise=s.noise,
        train_fraction=s.train_fraction,
        layers="".join(f"    {line},\n" for line in lines),
        optimizer=OPTIMIZERS[s.optimizer].__name__,
        lr=s.lr,
        batch_size=s.batch_size,
        regularizer=penalty.get(s.regularization, "None") if s.reg_rate else "None",
    )
