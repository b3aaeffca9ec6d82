"""Covariate shift: the synthetic problem's density ratio, the importance weights a domain
classifier estimates, the effective sample size, and the example's correction."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import make_covariate_shift
from chainrule.errors import ArgumentError, ShapeError
from chainrule.train.weights import effective_sample_size, importance_weights

pytest.importorskip("sklearn")


def gaussian_density(x, centre):
    return np.exp(-0.5 * ((x - centre) ** 2).sum(axis=1)) / (2 * np.pi)


def test_the_density_ratio_is_the_ratio_of_the_two_gaussians():
    (x_train, _), (x_test, y_test), ratio = make_covariate_shift(
        200, 200, shift=1.4, generator=np.random.default_rng(0)
    )
    x = np.concatenate([x_train, x_test]).astype(np.float64)
    expected = gaussian_density(x, [0.7, 0.0]) / gaussian_density(x, [-0.7, 0.0])
    np.testing.assert_allclose(ratio(x), expected, rtol=1e-12)
    assert abs(x_train[:, 0].mean() + 0.7) < 0.2 and abs(x_test[:, 0].mean() - 0.7) < 0.2
    # p(y | x) is the same in both: the labels follow the parabola up to the noise
    assert ((x_test[:, 1] > x_test[:, 0] ** 2 - 1) == y_test).mean() > 0.85


def test_importance_weights_recover_the_true_ratio():
    (x_train, _), (x_test, _), ratio = make_covariate_shift(
        2000, 2000, generator=np.random.default_rng(1)
    )
    estimated = importance_weights(x_train, x_test, clip=None)
    true = ratio(x_train) / ratio(x_train).mean()
    assert estimated.mean() == pytest.approx(1.0)
    assert np.corrcoef(np.log(estimated), np.log(true))[0, 1] > 0.99
    clipped = importance_weights(x_train, x_test, clip=3.0)
    assert clipped.max() <= 3.0 and effective_sample_size(clipped) > effective_sample_size(
        estimated
    )


def test_effective_sample_size_by_hand():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size([1.0, 0.0, 0.0, 0.0]) == pytest.approx(1)
    assert effective_sample_size([3.0, 1.0]) == pytest.approx(16 / 10)


def test_covariate_shift_helpers_refuse_bad_input_with_a_message():
    with pytest.raises(ShapeError, match=r"same features; got shapes \(3, 2\) and \(3, 4\)"):
        importance_weights(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ArgumentError, match="clip must be >= 1"):
        importance_weights(np.zeros((3, 2)), np.ones((3, 2)), clip=0.5)
    with pytest.raises(ArgumentError, match="weights >= 0, not all 0"):
        effective_sample_size([0.0, 0.0])
    with pytest.raises(ArgumentError, match="noise must be >= 0"):
        make_covariate_shift(noise=-1.0)


def test_the_example_corrects_a_linear_model_for_the_shift(capsys):
    path = Path(__file__).resolve().parents[1] / "examples" / "covariate_shift.py"
    spec = importlib.util.spec_from_file_location("covariate_shift_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accuracy = module.main(epochs=20)
    plain = accuracy["unweighted"]
    assert accuracy["importance (logistic regression)"] > plain + 0.05
    assert accuracy["oracle p_test / p_train"] > plain + 0.05
    assert "ESS" in capsys.readouterr().out
