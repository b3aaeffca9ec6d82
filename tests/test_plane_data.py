"""The playground's 2-D sets, their features, and ``data.name = "plane"`` in experiment files."""

import numpy as np
import pytest

from chainrule.data import load_plane, make_plane, plane_features
from chainrule.data.plane import PLANE_SETS
from chainrule.errors import ArgumentError
from chainrule.experiments import load_config
from chainrule.experiments.config import to_toml
from chainrule.experiments.data_prep import load_splits
from chainrule.experiments.parse import loads
from chainrule.experiments.schema import ConfigError


@pytest.mark.parametrize("name", list(PLANE_SETS))
def test_each_set_gives_two_classes_of_2d_points_in_the_plane(name):
    x, y = make_plane(name, 200, noise=0.2, generator=np.random.default_rng(0))
    assert x.shape == (200, 2) and x.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert np.abs(x).max() < 12


def test_noise_free_labels_follow_the_rule_of_each_set():
    x, y = make_plane("circle", 300, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(y, (np.hypot(x[:, 0], x[:, 1]) < 2.5).astype(np.int64))
    x, y = make_plane("xor", 300, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] >= 0).astype(np.int64))
    x, y = make_plane("gauss", 2000, generator=np.random.default_rng(1))
    np.testing.assert_allclose(x[y == 1].mean(axis=0), [2, 2], atol=0.1)
    np.testing.assert_allclose(x[y == 0].std(axis=0), [0.5**0.5] * 2, atol=0.05)


def test_noise_widens_the_gaussian_clusters_as_the_lecture_playground_does():
    x, y = make_plane("gauss", 4000, noise=0.5, generator=np.random.default_rng(2))
    np.testing.assert_allclose(x[y == 0].std(axis=0), [2.0, 2.0], atol=0.1)  # sqrt(0.5 + 3.5)


def test_features_are_the_named_functions_of_the_coordinates():
    x = np.array([[1.0, 2.0], [-0.5, 3.0]], dtype=np.float32)
    got = plane_features(x, ["x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)", "x1"])
    want = [
        [2, 1, 4, 2, np.sin(1), np.sin(2), 1],
        [3, 0.25, 9, -1.5, np.sin(-0.5), np.sin(3), -0.5],
    ]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_load_plane_splits_by_the_training_fraction_and_repeats_with_the_seed():
    (x_train, _), (x_test, _) = load_plane("spiral", 100, 0.1, 0.3, seed=5)
    assert (len(x_train), len(x_test)) == (30, 70)
    (again, _), _ = load_plane("spiral", 100, 0.1, 0.3, seed=5)
    np.testing.assert_array_equal(x_train, again)


def test_plane_refuses_unknown_sets_features_and_empty_splits():
    with pytest.raises(ArgumentError, match="unknown set 'moons'"):
        make_plane("moons")
    with pytest.raises(ArgumentError, match=r"features must be a non-empty list .* got \['x3'\]"):
        plane_features(np.zeros((2, 2)), ["x3"])
    with pytest.raises(ArgumentError, match="leaves 0 for training"):
        load_plane("xor", 4, train_fraction=0.1)


PLANE_TOML = """
seed = 3
[data]
name = "plane"
normalize = "none"
plane = {set = "gauss", noise = 0.5, train_fraction = 0.4, features = ["x1", "sin(x2)", "x1*x2"]}
[model]
layers = [{type = "linear", out = 4}, {type = "tanh"}, {type = "linear", out = 2}]
[optimizer]
name = "sgd"
lr = 0.03
[training]
epochs = 1
"""


def test_an_experiment_file_can_name_a_plane_set_with_its_features(tmp_path):
    config = loads(PLANE_TOML)
    assert config.data.input_shape == (3,)
    path = tmp_path / "plane.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config
    (x_train, y_train), (x_test, _) = load_splits(config)
    (raw, labels), _ = load_plane("gauss", 500, 0.5, 0.4, seed=3)
    np.testing.assert_array_equal(x_train, plane_features(raw, ["x1", "sin(x2)", "x1*x2"]))
    np.testing.assert_array_equal(y_train, labels)
    assert len(x_test) == 300


@pytest.mark.parametrize(
    "replace, message",
    [
        (
            'set = "gauss"',
            r"data.plane.set: expected one of .* got 'gaus' \(did you mean 'gauss'\?\)",
        ),
        ('"sin(x2)"', r"data.plane.features\[1\]: expected one of .* got 'sin x2'"),
        ("noise = 0.5", r"data.plane.noise: expected a number >= 0 and <= 1; got 5"),
    ],
)
def test_plane_experiment_refuses_bad_values_naming_the_key(replace, message):
    bad = {'set = "gauss"': 'set = "gaus"', '"sin(x2)"': '"sin x2"', "noise = 0.5": "noise = 5"}
    with pytest.raises(ConfigError, match=message):
        loads(PLANE_TOML.replace(replace, bad[replace]))


def test_plane_table_refuses_other_data_and_is_required_by_plane():
    with pytest.raises(ConfigError, match="data.plane: needed with name = 'plane'"):
        loads(PLANE_TOML.replace('name = "plane"', 'name = "spirals"'))
    with pytest.raises(ConfigError, match="data.plane: needed with name = 'plane'"):
        loads(PLANE_TOML.replace("plane = {", "# plane = {"))
