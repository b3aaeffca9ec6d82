"""``training.class_weight`` in experiment files: parsed, checked, written back, and used."""

import numpy as np
import pytest

from chainrule.experiments import ConfigError, loads, run_experiment, to_toml

DIGITS = """
name = "weighted"

[data]
name = "digits"
flatten = true

[model]
layers = [{type = "linear", out = 10}]

[optimizer]
name = "sgd"
lr = 0.1

[training]
epochs = 1
"""


def with_weights(line: str) -> str:
    return DIGITS + line + "\n"


@pytest.mark.parametrize("line", ['class_weight = "balanced"', "class_weight = {0 = 2.5, 7 = 0.5}"])
def test_class_weight_parses_and_round_trips(line):
    config = loads(with_weights(line))
    assert loads(to_toml(config)) == config
    expected = "balanced" if "balanced" in line else {0: 2.5, 7: 0.5}
    assert config.training.class_weights == expected


def test_class_weight_refuses_bad_values_with_a_message():
    cases = {
        'class_weight = "even"': 'training.class_weight: expected "balanced" or a table',
        "class_weight = {12 = 1.0}": "training.class_weight.12: 'digits' has classes 0 to 9",
        "class_weight = {a = 1.0}": "training.class_weight.a: expected a class index",
        "class_weight = {1 = -2.0}": "training.class_weight.1: expected a number >= 0",
    }
    for line, message in cases.items():
        with pytest.raises(ConfigError) as info:
            loads(with_weights(line))
        assert message in str(info.value)


def test_a_heavy_class_weight_pulls_predictions_to_that_class(tmp_path, monkeypatch):
    """Digit 0 is a tenth of the test set; weighted 30 to 1 in training, the model
    predicts it far more often (measured: 0.99 of test predictions; unweighted: 0.05)."""
    monkeypatch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
    text = with_weights("class_weight = {0 = 30.0}").replace(
        "flatten = true", "flatten = true\ntrain_subset = 400"
    )
    result = run_experiment(loads(text), tmp_path / "run", verbose=0)
    matrix = np.array(result.metrics["confusion_matrix"])
    assert matrix[:, 0].sum() > 0.3 * matrix.sum()
