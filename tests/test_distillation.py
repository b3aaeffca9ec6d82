"""Knowledge distillation: the loss against Hinton et al.'s formula, its gradient against
finite differences in float64, and a Distiller that trains a student through fit."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.autograd.gradcheck import gradcheck
from chainrule.errors import ArgumentError
from chainrule.train import Distiller, fit, load


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_distillation_loss_is_the_published_mix_of_soft_and_hard_cross_entropy():
    rng = np.random.default_rng(0)
    z, teacher = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) * 3
    y = np.array([0, 1, 2, 3, 1])
    T, alpha = 3.0, 0.7
    q = softmax(teacher / T)
    soft = -(q * np.log(softmax(z / T))).sum(axis=1).mean()
    hard = -np.log(softmax(z)[np.arange(5), y]).mean()
    expected = alpha * T**2 * soft + (1 - alpha) * hard
    z64, teacher64 = cr.tensor(z, dtype="float64"), cr.tensor(teacher, dtype="float64")
    got = F.distillation_loss(z64, F.soft_targets(teacher64, T), y, T, alpha)
    np.testing.assert_allclose(got.item(), expected, rtol=1e-10)


@pytest.mark.parametrize(("temperature", "alpha"), [(1.0, 0.5), (4.0, 0.9), (2.5, 1.0)])
def test_distillation_loss_gradient_matches_finite_differences(temperature, alpha):
    rng = np.random.default_rng(1)
    z = cr.tensor(rng.normal(size=(6, 5)), dtype="float64", requires_grad=True)
    q = softmax(rng.normal(size=(6, 5)) * 2 / temperature)
    y = rng.integers(0, 5, size=6)
    gradcheck(lambda z: F.distillation_loss(z, q, y, temperature, alpha), [z])


def test_ensemble_soft_targets_average_the_members_probabilities():
    rng = np.random.default_rng(2)
    members = rng.normal(size=(3, 4, 5))
    got = F.soft_targets(members, 2.0).numpy()
    np.testing.assert_allclose(got, softmax(members / 2.0).mean(axis=0), rtol=1e-6)


def test_distillation_loss_refuses_a_bad_temperature_and_names_it():
    with pytest.raises(ArgumentError, match="temperature must be positive; got temperature=0"):
        F.distillation_loss(np.zeros((2, 3)), np.full((2, 3), 1 / 3), [0, 1], temperature=0)


def test_distiller_trains_only_the_student_and_its_state_is_the_students():
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    teacher = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    fit(
        teacher,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.Adam(teacher.parameters(), lr=0.05),
        epochs=20,
        verbose=0,
    )
    teacher_weights = teacher.state_dict()
    student = nn.Sequential(nn.Linear(4, 2))
    distiller = Distiller(student, teacher, temperature=2.0, alpha=0.8)
    assert list(distiller.state_dict()) == ["0.weight", "0.bias"]  # the student's own
    history = fit(
        distiller,
        (x, y),
        loss=distiller.loss,
        metrics=["accuracy"],
        optimizer=optim.Adam(distiller.parameters(), lr=0.05),
        epochs=20,
        verbose=0,
    )
    assert history["accuracy"][-1] > 0.9
    for key, value in teacher.state_dict().items():
        np.testing.assert_array_equal(value, teacher_weights[key])


TEACHER = """
[data]
name = "digits"
flatten = true
[model]
layers = [{type = "linear", out = 32}, {type = "relu"}, {type = "linear", out = 10}]
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 3
"""


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    from chainrule.experiments import loads, run_experiment

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
        run_dir = tmp_path_factory.mktemp("runs") / "teacher"
        result = run_experiment(loads(TEACHER + "[ensemble]\nmembers = 2\n"), run_dir, verbose=0)
    return run_dir, result


def test_an_ensemble_run_serves_as_the_teacher(teacher_run):
    from chainrule.experiments import load_run
    from chainrule.experiments.data_prep import prepare_data

    run_dir, run = teacher_run
    teachers = load_run(run_dir)
    assert len(teachers) == 2 and not teachers[0].training
    data = prepare_data(run.config)
    x, y = data.train[np.arange(len(data.train))]
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    distiller = Distiller(student, teachers, temperature=3.0)
    fit(
        distiller,
        (x, y),
        loss=distiller.loss,
        optimizer=optim.Adam(distiller.parameters(), lr=0.01),
        epochs=5,
        verbose=0,
    )
    x_test, y_test = data.test
    accuracy = (student(x_test).numpy().argmax(axis=1) == y_test).mean()
    assert accuracy > 0.8 and run.test_accuracy > 0.8


def test_loading_a_teacher_run_leaves_the_callers_random_stream_alone(teacher_run):
    # The student's seed must decide its shuffles and dropout masks: load_run rebuilds
    # the teachers under the teacher run's seed, and before the fix left the library's
    # generator there, so every student drew the teacher's stream whatever its own seed.
    from chainrule.experiments import load_run

    run_dir, _ = teacher_run
    cr.manual_seed(123)
    expected = cr.backend.default_generator().random(4)
    cr.manual_seed(123)
    load_run(run_dir)
    assert np.array_equal(cr.backend.default_generator().random(4), expected)


def test_a_distillation_experiment_trains_the_student_on_a_teacher_run(teacher_run, tmp_path):
    from chainrule.experiments import evaluate_run, loads, run_experiment, to_toml

    run_dir, _ = teacher_run
    text = TEACHER.replace("out = 32", "out = 8")
    text += f'[distillation]\nteacher = "{run_dir}"\ntemperature = 3\nalpha = 0.7\n'
    config = loads(text)
    assert loads(to_toml(config)) == config
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
        result = run_experiment(config, tmp_path / "student", verbose=0)
    assert list(load(tmp_path / "student" / "checkpoints" / "best.npz")) == [
        "1.weight",
        "1.bias",
        "3.weight",
        "3.bias",
    ]  # the student's own keys
    assert result.test_accuracy > 0.8
    assert evaluate_run(tmp_path / "student")["test"]["accuracy"] == result.test_accuracy


def test_a_distillation_experiment_refuses_label_smoothing_and_says_why():
    from chainrule.experiments import ConfigError, loads

    text = TEACHER.replace("epochs = 3", "epochs = 3\nlabel_smoothing = 0.1")
    with pytest.raises(ConfigError, match="its loss replaces training.loss"):
        loads(text + '[distillation]\nteacher = "runs/x"\n')
