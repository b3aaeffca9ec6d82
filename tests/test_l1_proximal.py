"""The proximal L1 step: soft-thresholding after the optimiser step gives exact zeros."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.experiments.member_training import build_regularizer
from chainrule.experiments.parse import parse_config
from chainrule.experiments.schema import ConfigError
from chainrule.train import fit


def test_soft_threshold_matches_a_hand_computed_case():
    layer = nn.Linear(5, 1)
    layer.weight.data[...] = [[0.5, -0.2, 0.05, -0.01, 0.0]]
    layer.bias.data[...] = 0.01  # a bias: never penalised, so never thresholded
    nn.l1_prox_(layer, 0.05)  # sign(w) max(|w| - 0.05, 0)
    after = layer.weight.numpy()[0]
    np.testing.assert_allclose(after[:2], [0.45, -0.15], rtol=1e-6)
    np.testing.assert_array_equal(after[2:], [0.0, 0.0, 0.0])
    assert not np.signbit(after[2:]).any(), "a weight set to zero is +0, not -0"
    np.testing.assert_array_equal(layer.bias.numpy(), [np.float32(0.01)])


def test_proximal_step_thresholds_by_each_groups_lr_times_l1():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    a.weight.data[...] = [[0.3, -0.05]]
    b.weight.data[...] = [[0.3, -0.05]]
    model = nn.Sequential(a, b)
    opt = optim.SGD([{"params": a.parameters(), "lr": 0.1}, {"params": b.parameters()}], lr=1.0)
    nn.L1L2(l1=0.2, proximal=True).proximal_step(model, opt)  # thresholds 0.02 and 0.2
    np.testing.assert_allclose(a.weight.numpy(), [[0.28, -0.03]], rtol=1e-6)
    np.testing.assert_allclose(b.weight.numpy()[0, 0], 0.1, rtol=1e-6)
    assert b.weight.numpy()[0, 1] == 0.0
    before = a.weight.numpy().copy()
    nn.L1L2(l1=0.2).proximal_step(model, opt)  # not proximal: nothing moves
    np.testing.assert_array_equal(a.weight.numpy(), before)


def test_proximal_penalty_keeps_the_l1_value_but_only_l2_reaches_the_gradient():
    layer = nn.Linear(3, 2)
    w = layer.weight.numpy()
    penalty = nn.L1L2(l1=0.1, l2=0.2, proximal=True)(layer)
    expected = 0.1 * np.abs(w).sum() + 0.1 * (w**2).sum()
    assert penalty.item() == pytest.approx(expected, rel=1e-6)
    penalty.backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), 0.2 * w, rtol=1e-6)


def sparse_regression(proximal: bool) -> np.ndarray:
    """y = 2 x0 + noise with four useless inputs; the weights after SGD with L1."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    y = (2.0 * x[:, :1] + 0.1 * rng.standard_normal((200, 1))).astype(np.float32)
    cr.manual_seed(0)
    model = nn.Linear(5, 1)
    fit(
        model,
        (x, y),
        loss="mse",
        optimizer=optim.SGD(model.parameters(), lr=0.05),
        epochs=20,
        batch_size=20,
        regularizer=nn.L1L2(l1=0.1, proximal=proximal),
        verbose=0,
    )
    return model.weight.numpy()[0]


def test_weights_reach_exactly_zero_under_the_proximal_step_but_not_the_subgradient():
    subgradient, proximal = sparse_regression(False), sparse_regression(True)
    assert np.count_nonzero(subgradient[1:] == 0) == 0  # they hover around zero
    assert np.abs(subgradient[1:]).max() < 0.02  # ... within a few lr * l1 = 0.005 of it
    np.testing.assert_array_equal(proximal[1:], [0.0, 0.0, 0.0, 0.0])
    assert proximal[0] == pytest.approx(subgradient[0], abs=0.01)  # the same objective
    assert 1.9 < proximal[0] < 1.99  # the real input kept, shrunk by L1 from 2


DOCUMENT = {
    "data": {"name": "xor"},
    "model": {"layers": [{"type": "linear", "out": 2}]},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"epochs": 1, "batch_size": 4},
}


def test_experiment_files_choose_the_proximal_step():
    document = DOCUMENT
    plain = parse_config({**document, "regularization": {"l1": 0.01}})
    prox = parse_config({**document, "regularization": {"l1": 0.01, "l1_proximal": True}})
    assert plain.regularization.l1_proximal is False
    assert build_regularizer(plain.regularization).proximal is False
    assert build_regularizer(prox.regularization).proximal is True
    assert build_regularizer(parse_config(document).regularization) is None


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: nn.L1L2(l1=0.1, proximal=1), ArgumentTypeError, "proximal\\) must be True or"),
        (lambda: nn.l1_prox_(nn.Linear(2, 2), -0.1), ArgumentError, "threshold must be a non-neg"),
        (lambda: nn.l1_prox_([0.5], 0.1), ArgumentTypeError, "l1_prox_: expected Parameters"),
        (
            lambda: nn.L1L2(l1=0.1, proximal=True).proximal_step(nn.Linear(2, 2), 0.1),
            ArgumentTypeError,
            "optimizer must be an optimiser with param_groups; got float",
        ),
    ],
)
def test_invalid_arguments_are_refused_with_a_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_non_boolean_l1_proximal_in_an_experiment_file_is_refused():
    document = {**DOCUMENT, "regularization": {"l1": 0.01, "l1_proximal": "yes"}}
    with pytest.raises(ConfigError, match="regularization.l1_proximal: expected"):
        parse_config(document)
