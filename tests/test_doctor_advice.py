"""The doctor never crashes on zero or non-finite statistics, fits its advice to the run,
stays quiet about numbers a divergence made meaningless, and measures the training error
of bias/variance on the final model in eval mode."""

import itertools
import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.diagnose import Doctor, diagnose, report
from chainrule.train import fit

ODD = (0.0, math.nan, math.inf, -math.inf, 1e-300, 1e300)


def layers(*names):
    return [{"name": n, "type": "Linear", "role": "weight"} for n in names] + [
        {"name": "r", "type": "ReLU", "role": "relu"}
    ]


@pytest.mark.parametrize("first,last", list(itertools.product(ODD, ODD)))
def test_zero_and_non_finite_statistics_never_crash_the_report(first, last):
    diagnostics = {
        "layers": layers("a", "b"),
        "stats": {
            "a": {"grad_norm": [first, first], "weight_norm": [last, 1.0], "update_ratio": [first]},
            "b": {"grad_norm": [last, last], "weight_norm": [first, 1.0], "update_ratio": [last]},
            "r": {"dead_fraction": [1.0], "act_std": [first]},
        },
        "batch_loss": [2.3, first, last, 2.3],
        "epoch_steps": [2, 4],
    }
    history = {"loss": [2.3, first], "val_loss": [last, 2.3], "accuracy": [0.1, 0.1]}
    findings = diagnose(history, diagnostics)
    assert isinstance(report(findings), str)


def test_a_zero_first_layer_gradient_is_reported_as_dead_units_not_a_crash():
    diagnostics = {
        "layers": layers("a", "b"),
        "stats": {
            "a": {"grad_norm": [0.0, 0.0]},
            "b": {"grad_norm": [0.5, 0.4]},
            "r": {"dead_fraction": [1.0, 1.0]},
        },
    }
    (finding,) = diagnose({}, diagnostics)
    assert finding.kind == "dead_relu"
    assert "gradient norm is 0" in finding.evidence
    no_units = {"layers": layers("a", "b")[:2], "stats": diagnostics["stats"]}
    (finding,) = diagnose({}, no_units)
    assert finding.kind == "vanishing_gradients" and finding.values["ratio"] == 0.0


def train(model, x, y, lr, epochs, optimizer=optim.SGD, batch_size=32, **kw):
    doctor = Doctor(every=2, human_error=kw.pop("human_error", None))
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optimizer(model.parameters(), lr=lr),
        epochs=epochs,
        batch_size=batch_size,
        metrics=["accuracy"],
        callbacks=[doctor],
        verbose=0,
        **kw,
    )
    return doctor


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 600)
    x = (rng.normal(size=(600, 16)) + 2.0 * np.eye(16)[y * 4]).astype(np.float32)
    return x, y


def relu_mlp():
    return nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    )


def test_a_learning_rate_far_too_high_kills_the_units_without_killing_fit(blobs):
    x, y = blobs
    cr.manual_seed(0)
    doctor = train(relu_mlp(), x, y, lr=50.0, epochs=3)  # every ReLU dies or the loss is NaN
    findings = diagnose(doctor.trainer.history.history, doctor.diagnostics())
    assert findings[0].kind == "divergence"
    kinds = {f.kind for f in findings}
    assert not kinds & {"update_ratio", "plateau", "overfitting", "underfitting", "oscillation"}
    advice = findings[0].remedies[0]
    assert "now 50" in advice and "3-10x" not in advice  # scaled with the evidence
    low, high = (float(v) for v in re.search(r"try (\S+) to (\S+)", advice).groups())
    assert low <= 0.1 <= high  # a rate that trains this net lies in the range suggested


def test_the_advice_names_the_runs_own_settings(blobs):
    x, y = blobs
    cr.manual_seed(0)
    doctor = train(relu_mlp(), x, y, lr=0.05, epochs=1, batch_size=8, shuffle=False)
    settings = doctor.diagnostics()["settings"]
    assert settings == {
        "optimizer": "SGD",
        "lr": pytest.approx(0.05),
        "momentum": 0.0,
        "clip_grad_norm": None,
        "batch_size": 8,
        "shuffle": False,
        "train_size": 600,
    }
    swinging = {"loss": [2.0, 1.0, 1.3, 0.9, 1.2, 0.8]}
    (unshuffled,) = diagnose(swinging, {"settings": settings})
    assert unshuffled.kind == "oscillation" and "shuffle" in unshuffled.remedies[0]
    assert "now 8" in " ".join(unshuffled.remedies) and "now 0.05" in unshuffled.remedies[1]
    (shuffled,) = diagnose(swinging, {"settings": {**settings, "shuffle": True, "batch_size": 256}})
    assert not any("shuffle" in r for r in shuffled.remedies)
    assert not any("batch size" in r for r in shuffled.remedies)


def test_bias_variance_uses_the_final_models_eval_mode_training_error(blobs):
    x, y = blobs
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.9), nn.Linear(64, 4))
    doctor = Doctor(human_error=0.0)
    fit(
        model,
        (x[:400], y[:400]),
        loss="cross_entropy",
        optimizer=optim.Adam(model.parameters(), lr=1e-2),
        epochs=3,
        validation_data=(x[400:], y[400:]),
        metrics=["accuracy"],
        callbacks=[doctor],
        verbose=0,
    )
    measured = doctor.diagnostics()["final_errors"]
    model.eval()
    with cr.no_grad():
        predicted = model(cr.tensor(x[:400])).numpy().argmax(axis=1)
    assert measured["train_error"] == pytest.approx(float((predicted != y[:400]).mean()))
    assert measured["train_samples"] == 400
    running = 1.0 - doctor.trainer.history["accuracy"][-1]  # dropout 0.9 on: far worse
    assert running > measured["train_error"] + 0.05
    (verdict,) = [
        f
        for f in diagnose(doctor.trainer.history.history, doctor.diagnostics(), 0.0)
        if f.kind in ("avoidable_bias", "variance", "near_human")
    ]
    assert verdict.values["train_error"] == measured["train_error"]
    assert "eval mode on 400 training samples" in verdict.evidence


def test_a_run_that_stalls_then_learns_is_a_plateau_not_an_oscillation():
    rng = np.random.default_rng(0)
    steps = 100
    flat = 2.3 + 0.15 * rng.standard_normal(3 * steps)  # small-batch noise on a plateau
    falling = np.linspace(2.3, 0.3, 3 * steps) + 0.15 * rng.standard_normal(3 * steps)
    batch_loss = [float(v) for v in np.concatenate([flat, falling])]
    epochs = [float(np.mean(batch_loss[e * steps : (e + 1) * steps])) for e in range(6)]
    diagnostics = {"batch_loss": batch_loss, "epoch_steps": [steps * (e + 1) for e in range(6)]}
    findings = diagnose({"loss": epochs}, diagnostics)
    assert [f.kind for f in findings] == ["plateau"]
    assert findings[0].values["ended"] == 1.0
