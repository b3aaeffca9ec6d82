"""The doctor on a seeded suite of small runs, each with one known pathology, and on
healthy runs: the right finding comes first in every pathology, no warning is raised on
any healthy run, and nothing crashes (the ``Doctor`` callback watches every run)."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import load_digits
from chainrule.diagnose import Doctor, diagnose, report
from chainrule.train import fit


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    x = x.reshape(len(x), -1).astype(np.float32)  # load_digits is in [0, 1] already
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def mlp(activation=nn.ReLU, width=64, depth=3, dropout=0.0, weight_init="he_normal", **kw):
    layers, size = [], 64
    for _ in range(depth - 1):
        layers += [nn.Linear(size, width, weight_init=weight_init, **kw), activation()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        size = width
    return nn.Sequential(*layers, nn.Linear(size, 10))


def normal(std):
    return lambda w: nn.init.normal_(w, 0.0, std)


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def run(
    digits,
    make,
    optimizer,
    lr,
    epochs,
    batch_size=64,
    train_size=None,
    val_size=None,
    image=False,
    human_error=None,
    **opt_kw,
):
    """Train one seeded run under a Doctor; (findings most important first, the doctor)."""
    cr.manual_seed(0)
    (x, y), (xv, yv) = digits
    x, y = x[:train_size], y[:train_size]
    xv, yv = xv[:val_size], yv[:val_size]
    if image:
        x, xv = x.reshape(-1, 1, 8, 8), xv.reshape(-1, 1, 8, 8)
    model = make()
    doctor = Doctor(every=5, human_error=human_error)
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optimizer(model.parameters(), lr=lr, **opt_kw),
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(xv, yv),
        metrics=["accuracy"],
        callbacks=[doctor],
        verbose=0,
    )
    findings = diagnose(history.history, doctor.diagnostics(), human_error)
    report(findings)  # the report never crashes either
    return findings, doctor


PATHOLOGIES = {
    "vanishing_gradients": (
        lambda: mlp(nn.Sigmoid, depth=5, weight_init=normal(0.01)),
        optim.SGD,
        0.1,
        3,
        {},
    ),
    "exploding_gradients": (
        lambda: mlp(nn.ReLU, depth=6, weight_init=normal(0.5)),
        optim.SGD,
        1e-7,
        2,
        {},
    ),
    "divergence": (lambda: mlp(dropout=0.2), optim.SGD, 5.0, 3, {}),
    "oscillation": (lambda: mlp(), optim.SGD, 0.3, 8, {"momentum": 0.9}),
    "dead_relu": (
        lambda: mlp(bias_init=lambda b: nn.init.constant_(b, -3.0)),
        optim.Adam,
        1e-3,
        3,
        {},
    ),
    "saturation": (lambda: mlp(nn.Sigmoid, weight_init=normal(2.0)), optim.SGD, 0.01, 3, {}),
    "overfitting": (
        lambda: mlp(width=256),
        optim.Adam,
        3e-3,
        15,
        {"train_size": 500, "batch_size": 32},
    ),
    "avoidable_bias": (
        lambda: nn.Sequential(nn.Linear(64, 1), nn.Tanh(), nn.Linear(1, 10)),
        optim.Adam,
        1e-2,
        4,
        {"human_error": 0.01},
    ),
    "plateau": (lambda: mlp(), optim.Adam, 1e-6, 3, {}),
}

# underfitting judged against a human-level error is avoidable bias: either name is right
ACCEPTED = {"avoidable_bias": {"avoidable_bias", "underfitting"}}

HEALTHY = {
    "mlp_adam": (lambda: mlp(width=128, dropout=0.2), optim.Adam, 1e-3, 10, {}),
    "sigmoid_sgd_batch_10": (
        lambda: mlp(nn.Sigmoid, width=30, depth=2, weight_init="xavier_normal"),
        optim.SGD,
        0.5,
        8,
        {"batch_size": 10},
    ),
    "momentum_validated_on_300": (
        lambda: mlp(width=128),
        optim.SGD,
        0.05,
        10,
        {"batch_size": 32, "val_size": 300, "momentum": 0.9},
    ),
    "cnn_adam": (cnn, optim.Adam, 3e-3, 5, {"batch_size": 32, "image": True}),
}


@pytest.mark.parametrize("kind", sorted(PATHOLOGIES))
def test_the_pathology_comes_first(digits, kind):
    make, optimizer, lr, epochs, kw = PATHOLOGIES[kind]
    findings, doctor = run(digits, make, optimizer, lr, epochs, **kw)
    assert findings, f"{kind}: nothing found"
    assert findings[0].kind in ACCEPTED.get(kind, {kind}), [f.kind for f in findings]
    assert doctor.warnings and all(math.isfinite(e) for e, _ in doctor.warnings)


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_no_warning_on_a_healthy_run(digits, name):
    make, optimizer, lr, epochs, kw = HEALTHY[name]
    findings, doctor = run(digits, make, optimizer, lr, epochs, **kw)
    assert doctor.warnings == []
    assert [f.kind for f in findings] == []
