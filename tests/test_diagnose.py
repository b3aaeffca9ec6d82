"""The training doctor: the lectures' demonstrations on the digits, findings from crafted
curves, the bias/variance table, the lr range test, and the run-directory round trip."""

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.backend import get_rng_state
from chainrule.cli import main
from chainrule.data import load_digits
from chainrule.diagnose import (
    Doctor,
    Finding,
    Monitor,
    bias_variance,
    diagnose,
    diagnose_run,
    gradients,
    lr_find,
    report,
    write_plots,
)
from chainrule.errors import ArgumentError
from chainrule.train import CSVLogger, fit
from chainrule.train.serialization import load, save


@pytest.fixture(scope="module")
def digits():
    """The 8x8 digits (in [0, 1]): 1400 for training, the other 397 for validation."""
    pytest.importorskip("sklearn")
    x, y = load_digits()
    x = x.reshape(len(x), -1)
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def keras_mlp(hidden=128):
    """The Keras MLP (ReLU, dropout 0.2) sized for 8x8 digits."""
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(hidden, 10),
    )


def deep_mlp(activation, weight_init, depth=5, width=64):
    layers, size = [], 64
    for _ in range(depth - 1):
        layers += [nn.Linear(size, width, weight_init=weight_init), activation()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, 10, weight_init=weight_init))


def small_normal(w):
    return nn.init.normal_(w, 0.0, 0.01)


def train(model, data, lr, epochs, callbacks=(), optimizer=optim.Adam, batch_size=64, **kwargs):
    (x, y), validation = data
    return fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optimizer(model.parameters(), lr=lr),
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation,
        metrics=["accuracy"],
        callbacks=list(callbacks),
        verbose=kwargs.pop("verbose", 0),
        **kwargs,
    )


def run_doctor(model, data, lr, epochs, **kwargs):
    monitor = Monitor(every=5)
    history = train(model, data, lr, epochs, callbacks=[monitor], **kwargs)
    findings = diagnose(history.history, monitor.diagnostics())
    return {f.kind: f for f in findings}, monitor


# ------------------------------------------------------------ forward hooks
def test_forward_hook_sees_each_call_and_is_removed_by_its_handle():
    layer = nn.Linear(3, 2)
    seen = []
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.append((m, inputs, out)))
    x = cr.randn(4, 3)
    out = layer(x)
    assert len(seen) == 1 and seen[0][0] is layer and seen[0][1][0] is x and seen[0][2] is out
    handle.remove()
    layer(x)
    assert len(seen) == 1
    assert not layer._forward_hooks


def test_forward_hook_result_replaces_the_output():
    layer = nn.ReLU()
    layer.register_forward_hook(lambda m, inputs, out: out * 0.0)
    assert float(layer(cr.ones(3)).sum().item()) == 0.0
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_hook("not a function")


# ------------------------------------------------------------------ monitor
def test_monitor_records_every_layer_every_epoch_in_forward_order(digits):
    model = deep_mlp(nn.Sigmoid, "xavier_uniform", depth=3)
    monitor = Monitor(every=3)
    train(model, digits, 1e-3, 3, callbacks=[monitor])
    d = monitor.diagnostics()
    assert [layer["name"] for layer in d["layers"]] == ["0", "1", "2", "3", "4"]
    assert [layer["role"] for layer in d["layers"]] == [
        "weight",
        "sigmoid",
        "weight",
        "sigmoid",
        "weight",
    ]
    assert d["epochs"] == [0, 1, 2]
    assert len(d["batch_loss"]) == d["epoch_steps"][-1] == 3 * 22
    for name in ("0", "2", "4"):
        series = d["stats"][name]
        assert set(series) >= {
            "grad_norm",
            "grad_norm_max",
            "weight_norm",
            "update_ratio",
            "act_std",
        }
        assert all(
            len(v) == 3 and all(math.isfinite(x) and x >= 0 for x in v)
            for k, v in series.items()
            if k != "act_mean"
        )
        assert all(a <= b for a, b in zip(series["grad_norm"], series["grad_norm_max"]))
    assert 0.0 <= d["stats"]["1"]["saturated_fraction"][0] <= 1.0
    w = model[4].weight.numpy()
    assert d["stats"]["4"]["weight_norm"][-1] == pytest.approx(
        math.sqrt(float((w.astype(np.float64) ** 2).sum() + (model[4].bias.numpy() ** 2).sum())),
        rel=1e-4,
    )


def test_monitor_does_not_change_the_run(digits):
    cr.manual_seed(3)
    plain = train(keras_mlp(), digits, 1e-3, 2)
    cr.manual_seed(3)
    watched = train(keras_mlp(), digits, 1e-3, 2, callbacks=[Doctor(every=1)])
    assert plain.history == watched.history


def test_dead_fraction_counts_units_never_active_on_the_monitoring_batch():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
    model[0].weight.data[...] = 0.0
    model[0].bias.data[...] = np.array([1.0, -1.0, 1.0, -1.0], dtype=np.float32)
    x = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    monitor = Monitor(monitor_data=x)
    fit(
        model,
        (x, np.zeros((32, 4), np.float32)),
        loss="mse",
        optimizer="sgd",
        epochs=1,
        verbose=0,
        callbacks=[monitor],
    )
    assert monitor.stats["1"]["dead_fraction"] == [0.5]


def test_monitor_state_round_trips_through_a_checkpoint_file(digits, tmp_path):
    doctor = Doctor(every=4)
    train(keras_mlp(32), digits, 1e-3, 1, callbacks=[doctor])
    save(doctor.state_dict(), tmp_path / "state.npz")
    other = Doctor()
    other.load_state_dict(load(tmp_path / "state.npz"))
    assert other.state_dict() == doctor.state_dict()


# ---------------------------------------------- the lectures' demonstrations
def test_deep_sigmoid_net_with_small_init_has_vanishing_gradients(digits):
    found, _ = run_doctor(deep_mlp(nn.Sigmoid, small_normal), digits, 0.1, 3, optimizer=optim.SGD)
    vanishing = found["vanishing_gradients"]
    assert vanishing.values["ratio"] < 1e-4
    assert f"{vanishing.values['ratio']:.3g}" in vanishing.evidence
    assert "ReLU or ELU" in vanishing.remedies[0]


def test_the_same_net_with_relu_and_he_init_has_no_vanishing_gradients(digits):
    found, monitor = run_doctor(deep_mlp(nn.ReLU, "he_normal"), digits, 0.1, 3, optimizer=optim.SGD)
    assert "vanishing_gradients" not in found
    first, last = monitor.stats["0"]["grad_norm"], monitor.stats["8"]["grad_norm"]
    assert 0.1 < first[0] / last[0] < 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learning_rate_a_hundred_times_too_large_diverges_or_oscillates(digits, seed):
    # NOTE: 100x, over seeds: at 30x (3e-2) the curves wander within the doctor's noise
    # bounds and the finding came on 3 seeds of 6 (one seed made a test of a coin flip)
    cr.manual_seed(seed)
    found, _ = run_doctor(keras_mlp(), digits, 1e-1, 10)
    assert {"oscillation", "divergence"} & set(found)


def test_a_good_learning_rate_gets_no_curve_findings(digits):
    found, _ = run_doctor(keras_mlp(), digits, 1e-3, 10)
    assert not found


def test_learning_rate_a_thousand_times_too_small_is_a_plateau(digits):
    found, _ = run_doctor(keras_mlp(), digits, 1e-6, 4)
    assert found["plateau"].values["ended"] == 0.0
    assert found["update_ratio"].values["update_ratio"] < gradients.UPDATE_RATIO_LOW


def test_big_net_on_500_images_overfits_and_names_the_turning_epoch(digits):
    (x, y), validation = digits
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    monitor = Monitor()
    history = train(
        model, ((x[:500], y[:500]), validation), 3e-3, 15, callbacks=[monitor], batch_size=32
    )
    found = {f.kind: f for f in diagnose(history.history, monitor.diagnostics())}
    overfit = found["overfitting"]
    turn = int(np.argmin(history["val_loss"]))
    assert overfit.epoch == turn and f"epoch {turn + 1}" in overfit.title  # printed from 1
    assert history["val_loss"][-1] > history["val_loss"][turn]


# ------------------------------------------------------------ bias / variance
@pytest.mark.parametrize(
    ("human", "train_error", "dev", "kind"),
    [
        (0.01, 0.05, 0.06, "avoidable_bias"),
        (0.01, 0.01, 0.05, "variance"),
        (0.005, 0.007, 0.008, "near_human"),
    ],
)
def test_the_lectures_bias_variance_scenarios(human, train_error, dev, kind):
    finding = bias_variance(human, train_error, dev)
    assert finding.kind == kind
    assert finding.values["avoidable_bias"] == pytest.approx(train_error - human)
    assert finding.values["variance"] == pytest.approx(dev - train_error)
    assert (kind == "near_human") == ("Close to human level" in finding.title)
    assert f"{train_error * 100:.3g}%" in finding.evidence


def test_bias_variance_wants_fractions():
    with pytest.raises(ArgumentError, match="fraction"):
        bias_variance(1.0, 5.0, 6.0)


def test_human_error_reads_the_errors_from_logged_accuracy():
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.6],
        "accuracy": [0.9, 0.95],
        "val_accuracy": [0.9, 0.94],
    }
    (finding,) = [f for f in diagnose(history, human_error=0.01) if f.kind == "avoidable_bias"]
    assert finding.values["train_error"] == pytest.approx(0.05)
    with pytest.raises(ArgumentError, match="accuracy"):
        diagnose({"loss": [1.0, 0.5]}, human_error=0.01)


# -------------------------------------------------------------- lr range test
def test_lr_find_suggests_a_rate_that_trains_well_and_restores_everything(digits, tmp_path):
    (x, y), _ = digits
    model = keras_mlp()
    before, rng = model.state_dict(), get_rng_state()
    result = lr_find(
        model, (x, y), optimizer_cls=optim.Adam, num_steps=100, plot=tmp_path / "lr.png"
    )
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert get_rng_state() == rng
    assert result.suggestion == pytest.approx(result.min_loss_lr / 10)
    assert 1e-4 <= result.suggestion <= 1e-2  # within 10x of Adam's 1e-3, which trains well
    assert len(result.lrs) == len(result.losses) <= 100 and result.lrs == sorted(result.lrs)
    assert (tmp_path / "lr.png").stat().st_size > 0
    history = train(model, digits, result.suggestion, 3)
    assert history["val_accuracy"][-1] > 0.85


def test_lr_find_checks_its_range():
    with pytest.raises(ArgumentError, match="start_lr"):
        lr_find(
            nn.Linear(2, 2), (np.zeros((4, 2)), np.zeros(4, np.int64)), start_lr=1.0, end_lr=0.1
        )


# --------------------------------------------------------------- the doctor
def test_doctor_warns_once_per_finding_during_training(digits, capsys):
    doctor = Doctor(every=5)
    train(keras_mlp(), digits, 1e-6, 5, callbacks=[doctor], verbose=2)
    out = capsys.readouterr().out
    kinds = [finding.kind for _, finding in doctor.warnings]
    assert "plateau" in kinds and len(kinds) == len(set(kinds))
    assert out.count("doctor, epoch") == len(kinds)
    assert dict((f.kind, e) for e, f in doctor.warnings)["plateau"] == 1  # seen after 2 flat epochs
    assert "underfitting" in kinds  # judged only once training has ended


def test_doctor_reports_a_nan_loss_when_training_stops_mid_epoch(digits):
    doctor = Doctor(every=1)
    (x, y), _ = digits
    model = keras_mlp()
    fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=1e4),
        epochs=3,
        callbacks=[doctor],
        verbose=0,
    )
    kinds = [f.kind for _, f in doctor.warnings]
    assert kinds[0] == "divergence"
    assert not math.isfinite(doctor.batch_loss[-1])


def test_run_directory_round_trip_and_report(digits, tmp_path):
    doctor = Doctor(run_dir=tmp_path, every=5)
    train(keras_mlp(), digits, 1e-6, 3, callbacks=[doctor, CSVLogger(tmp_path / "history.csv")])
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert saved["epochs"] == [0, 1, 2] and saved["history"]["loss"]
    assert (tmp_path / "gradient_norms.png").stat().st_size > 0
    findings = diagnose_run(tmp_path)
    assert "plateau" in {f.kind for f in findings}
    assert [p.name for p in write_plots(tmp_path)] == ["gradient_norms.png", "learning_curves.png"]
    text = report(findings)
    assert text.index("plateau") < text.index("Underfitting")
    assert "Try:" in text and "2.3" in text


def test_diagnose_run_needs_a_history(tmp_path):
    with pytest.raises(ArgumentError, match="history.csv"):
        diagnose_run(tmp_path)


# ----------------------------------------------------- crafted learning curves
def kinds_of(history, **kwargs):
    return [f.kind for f in diagnose(history, **kwargs)]


def test_healthy_curves_have_no_findings():
    history = {"loss": [2.0, 1.0, 0.6, 0.4, 0.3, 0.25], "val_loss": [2.1, 1.1, 0.7, 0.5, 0.42, 0.4]}
    assert kinds_of(history) == []
    assert report([]).startswith("The doctor found nothing wrong")


def test_nan_loss_is_critical_divergence():
    (finding,) = diagnose({"loss": [2.0, 1.0, math.nan]})
    assert finding.kind == "divergence" and finding.severity == "critical" and finding.epoch == 2


def test_training_loss_climbing_back_is_divergence():
    finding = diagnose({"loss": [2.3, 0.5, 0.4, 0.9, 1.6]})[0]
    assert finding.kind == "divergence" and finding.epoch == 2
    assert "0.4" in finding.evidence and "1.6" in finding.evidence


def test_an_exploded_stretch_of_steps_is_divergence_but_one_unlucky_batch_is_not():
    batch_loss = [2.3, 2.0, 1.5, 9.0, 30.0, 12.0, 1.2]
    assert "divergence" in kinds_of({"loss": [1.9]}, diagnostics={"batch_loss": batch_loss})
    one_batch = [2.3, 2.0, 1.5, 9.0, 1.2, 1.1, 1.0]
    assert "divergence" not in kinds_of({"loss": [1.9]}, diagnostics={"batch_loss": one_batch})


def test_rising_training_loss_and_swinging_validation_loss_oscillate():
    rising = {"loss": [2.0, 1.0, 1.2, 0.9, 1.1, 0.8]}
    assert kinds_of(rising) == ["oscillation"]
    swinging = {"loss": [2.0, 1.0, 0.8, 0.7, 0.6, 0.5], "val_loss": [2.0, 1.0, 1.5, 0.9, 1.4, 0.9]}
    finding = diagnose(swinging)[0]
    assert finding.kind == "oscillation" and finding.values["swings"] == 4


def test_repeated_jumps_of_the_smoothed_loss_are_oscillation_but_lone_spikes_are_noise():
    rng = np.random.default_rng(0)
    batch_loss = list(0.3 + 0.01 * rng.random(400))
    batch_loss[0] = 2.3
    for t in range(40, 400, 40):
        batch_loss[t] = 0.9  # one batch far above its neighbours: small-batch noise
    diagnostics = {"batch_loss": batch_loss, "epoch_steps": [100, 200, 300, 400]}
    assert kinds_of({"loss": [0.5, 0.32, 0.32, 0.32]}, diagnostics=diagnostics) == []
    for start in (50, 150, 250, 350):
        batch_loss[start : start + 25] = [0.9] * 25  # a stretch of steps thrown back up
    finding = diagnose({"loss": [0.5, 0.45, 0.45, 0.45]}, diagnostics)[0]
    assert finding.kind == "oscillation" and finding.values["window_rises"] >= 2


def test_plateau_then_fall_reports_its_length_from_the_batch_losses():
    batch_loss = [2.3] * 250 + [1.0] * 150
    diagnostics = {"batch_loss": batch_loss, "epoch_steps": [100, 200, 300, 400]}
    finding = diagnose({"loss": [2.3, 2.3, 1.8, 1.0]}, diagnostics)[0]
    assert finding.kind == "plateau" and finding.values["ended"] == 1.0
    assert finding.values["plateau_epochs"] == pytest.approx(2.5, abs=0.3)


def test_plateau_from_epoch_curves_alone():
    assert kinds_of({"loss": [2.3, 2.28, 2.25, 1.2, 0.5]}) == ["plateau"]
    assert kinds_of({"loss": [2.3, 1.9, 1.2, 0.5]}) == []


def test_overfitting_names_the_epoch_where_validation_loss_turned():
    history = {
        "loss": [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1],
        "val_loss": [2.0, 1.1, 0.8, 0.7, 0.75, 0.8, 0.9, 1.0],
    }
    (finding,) = diagnose(history)
    assert finding.kind == "overfitting" and finding.epoch == 3
    assert "epoch 4" in finding.title and "0.7" in finding.evidence  # index 3, printed from 1


def test_a_short_rise_in_validation_loss_is_not_overfitting():
    history = {"loss": [2.0, 1.0, 0.6, 0.4, 0.3], "val_loss": [2.0, 1.1, 0.8, 0.7, 0.9]}
    assert kinds_of(history) == []


def test_both_losses_high_is_underfitting_once_training_has_ended():
    history = {"loss": [2.3, 1.8, 1.6, 1.5, 1.45], "val_loss": [2.3, 1.9, 1.7, 1.6, 1.55]}
    assert kinds_of(history) == ["underfitting"]
    assert kinds_of(history, finished=False) == []


# ------------------------------------------------------------- layer findings
def layer_stats(**series):
    layers = [
        {"name": name, "type": kind, "role": role} for name, (kind, role, _) in series.items()
    ]
    return {"layers": layers, "stats": {name: stats for name, (_, _, stats) in series.items()}}


def test_exploding_gradients_from_growth_and_from_nan():
    grown = layer_stats(
        a=("Linear", "weight", {"grad_norm": [0.1, 1.0, 50.0]}),
        b=("Linear", "weight", {"grad_norm": [0.1, 0.2, 0.3]}),
    )
    (finding,) = gradients.layer_findings(grown)
    assert finding.kind == "exploding_gradients" and finding.epoch == 2
    assert finding.values["growth"] == pytest.approx(500.0)
    broken = layer_stats(a=("Linear", "weight", {"grad_norm": [0.1, math.inf]}))
    assert gradients.layer_findings(broken)[0].severity == "critical"


def test_dead_relus_and_saturated_units_are_found_above_a_quarter():
    stats = layer_stats(
        r1=("ReLU", "relu", {"dead_fraction": [0.1, 0.4]}),
        r2=("ReLU", "relu", {"dead_fraction": [0.3, 0.2]}),
        s=("Tanh", "tanh", {"saturated_fraction": [0.5]}),
    )
    found = {f.kind: f for f in gradients.layer_findings(stats)}
    assert found["dead_relu"].values["dead_fraction"] == 0.4
    assert (
        "layer r1 (ReLU) 40%" in found["dead_relu"].evidence
        and "r2" not in found["dead_relu"].evidence
    )
    assert "bias" in " ".join(found["dead_relu"].remedies)
    assert found["saturation"].values["saturated_fraction"] == 0.5


def test_report_puts_critical_findings_first_then_causes_before_symptoms():
    def finding(kind, severity):
        return Finding(kind, severity, f"title {kind}", f"numbers {kind}", [f"remedy {kind}"])

    findings = [
        finding("overfitting", "warning"),
        finding("near_human", "info"),
        finding("vanishing_gradients", "warning"),
        finding("divergence", "critical"),
    ]
    text = report(findings)
    order = [
        text.index(f"title {k}")
        for k in ("divergence", "vanishing_gradients", "overfitting", "near_human")
    ]
    assert order == sorted(order)
    assert "1. [critical] title divergence" in text and "remedy overfitting" in text


# ----------------------------------------------------------- chainrule doctor
def test_chainrule_doctor_prints_the_findings_with_bias_and_variance(digits, tmp_path, capsys):
    train(
        keras_mlp(),
        digits,
        1e-6,
        3,
        callbacks=[Monitor(tmp_path), CSVLogger(tmp_path / "history.csv")],
    )
    capsys.readouterr()
    assert main(["doctor", str(tmp_path), "--human-error", "1%"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The doctor found")
    assert "Avoidable bias" in out and "human-level error 1%" in out
    assert out.index("[warning]") < out.index("plateau") < out.index("Avoidable bias")
    assert "learning_curves.png" in out and (tmp_path / "learning_curves.png").exists()


def test_chainrule_doctor_refuses_a_human_error_that_is_not_a_fraction(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["doctor", str(tmp_path), "--human-error", "5"])
    assert "fraction in [0, 1]" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "missing")]) == 2
