"""The mistakes a new user makes get messages that say what was wrong and what to do:
float class labels, misspelt losses, metrics and optimisers; and regular metric names."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn
from chainrule.data.transforms import RandomRotation, RandomScaling
from chainrule.errors import ArgumentError, DTypeError
from chainrule.train import fit
from chainrule.train.metrics import get_metric, top_k_accuracy

X = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
Y = np.arange(12) % 3


def quick_fit(**kwargs):
    settings = {"loss": "cross_entropy", "optimizer": "sgd", "epochs": 1, "verbose": 0}
    return fit(nn.Sequential(nn.Linear(4, 3)), (X, kwargs.pop("y", Y)), **{**settings, **kwargs})


def test_float_class_labels_are_refused_as_labels_not_shapes():
    with pytest.raises(DTypeError, match=r"class labels must be integers; got float32.*astype"):
        quick_fit(y=Y.astype(np.float32))
    with pytest.raises(DTypeError, match="class labels must be integers"):
        F.cross_entropy(cr.randn(4, 3), cr.tensor([0.0, 1.0, 2.0, 1.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "cross_entropi"}, "unknown loss 'cross_entropi' (did you mean 'cross_entropy'?)"),
        ({"metrics": ["acuracy"]}, "unknown metric 'acuracy' (did you mean 'accuracy'?)"),
        ({"optimizer": "adamm"}, "unknown optimizer 'adamm' (did you mean 'adam'?)"),
    ],
)
def test_a_misspelt_name_gets_did_you_mean(kwargs, message):
    with pytest.raises(ArgumentError, match=re.escape(message)):
        quick_fit(**kwargs)


@pytest.mark.parametrize("name", ["top_2_accuracy", "top2", "top_7_accuracy", "top_3_accuracy"])
def test_top_k_accuracy_is_there_for_every_k_under_its_regular_names(name):
    outputs = np.random.default_rng(1).normal(size=(50, 10))
    targets = np.arange(50) % 10
    k = int("".join(c for c in name if c.isdigit()))
    assert get_metric(name)[1](outputs, targets) == top_k_accuracy(outputs, targets, k)


def test_f1_is_a_training_metric_with_the_hand_computed_macro_value():
    outputs = np.eye(3)[[0, 1, 2, 2]]
    targets = np.array([0, 1, 1, 2])
    # class 0: F1 1; class 1: P 1, R 1/2 -> 2/3; class 2: P 1/2, R 1 -> 2/3
    assert get_metric("f1")[1](outputs, targets) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    history = quick_fit(metrics=["f1", "top_2_accuracy"], validation_data=(X, Y))
    assert {"f1", "val_f1", "top_2_accuracy"} <= set(history.history)


def test_random_scaling_takes_one_number_as_random_rotation_does():
    assert RandomScaling(0.2).scale == pytest.approx((0.8, 1.2))
    assert RandomRotation(15) is not None
    with pytest.raises(ArgumentError, match=r"single scale s means factors in \(1 - s, 1 \+ s\)"):
        RandomScaling(1.5)


def test_an_experiment_file_with_several_mistakes_reports_them_all(tmp_path, capsys):
    from chainrule.cli import main

    (tmp_path / "bad.toml").write_text(
        """
name = "bad"
[data]
name = "digits"
[model]
layers = [{type = "linear", out = 10}]
[optimizer]
name = "sgd"
lrr = 0.1
[training]
epochs = 0
[ensemble]
members = 1
"""
    )
    assert main(["train", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert "3 mistakes" in err
    assert "optimizer.lrr: unknown key (did you mean 'lr'?)" in err
    assert "training.epochs" in err and "ensemble.members" in err
