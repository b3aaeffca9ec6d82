"""[autoencoder] experiments: pre-train without labels, write the run directory with its
plots, and hand the encoder to a classifier through [transfer]."""

import json

import numpy as np
import pytest

from chainrule.experiments import ConfigError, load_config, loads, run_experiment, to_toml
from chainrule.experiments.autoencoder import build_autoencoder
from chainrule.train import load

AUTOENCODER = """
name = "ae"
[data]
name = "digits"
flatten = true
[model]
layers = [{type = "linear", out = 16}, {type = "relu"}]
[autoencoder]
decoder = [{type = "linear", out = 64}, {type = "sigmoid"}]
noise = 0.2
corruption = "mask"
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 3
metrics = []
"""


@pytest.fixture(scope="module")
def autoencoder_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "ae"
    result = run_experiment(loads(AUTOENCODER), run_dir, verbose=0)
    return run_dir, result


def test_autoencoder_run_learns_to_reconstruct_and_writes_its_run_directory(autoencoder_run):
    run_dir, result = autoencoder_run
    history = result.histories[0]
    assert history["loss"][-1] < history["loss"][0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["reconstruction_mse"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    pytest.importorskip("matplotlib")
    for name in ("loss.png", "reconstructions.png", "features.png"):
        assert (run_dir / name).stat().st_size > 1000, name
    assert load_config(run_dir / "config.toml") == result.config


def test_a_classifier_without_a_model_takes_the_encoder_and_a_new_head(autoencoder_run, tmp_path):
    run_dir, _ = autoencoder_run
    text = AUTOENCODER.split("[model]")[0].replace('name = "ae"', 'name = "clf"')
    text += f'[transfer]\nfrom = "{run_dir}"\n'
    text += '[optimizer]\nname = "adam"\n[training]\nepochs = 1\n'
    config = loads(text)
    assert [layer.type for layer in config.model.layers] == ["linear", "relu", "linear"]
    assert config.model.layers[-1].args["out"] == 10
    assert (config.transfer.layers, config.transfer.freeze) == (2, 2)
    before = load(run_dir / "checkpoints" / "best.npz")
    result = run_experiment(config, tmp_path / "clf", verbose=0)
    assert result.metrics["transfer"]["matched_keys"] == ["1.weight", "1.bias"]
    loaded = load(tmp_path / "clf" / "checkpoints" / "best.npz")
    np.testing.assert_array_equal(loaded["1.weight"], before["encoder.1.weight"])  # frozen
    assert loaded["3.weight"].shape == (10, 16)


def test_autoencoder_refuses_a_decoder_that_does_not_give_back_the_input_size():
    config = loads(AUTOENCODER.replace("out = 64", "out = 32"))
    with pytest.raises(ConfigError, match=r"gives outputs of shape \(N, 32\), but an input has 64"):
        build_autoencoder(config)


def test_autoencoder_refuses_an_accuracy_monitor_and_says_why():
    text = AUTOENCODER + "early_stopping = {monitor = 'val_accuracy'}\n"
    with pytest.raises(ConfigError, match="an autoencoder has no labels to measure"):
        loads(text.replace("metrics = []", 'metrics = ["accuracy"]'))


def test_the_shipped_mnist_autoencoder_builds_and_round_trips():
    config = load_config("mnist-autoencoder")
    model = build_autoencoder(config)
    assert (model.noise, model.corruption) == (0.3, "mask")
    assert model.decoder[0].out_features == 784
    assert loads(to_toml(config), "mnist-autoencoder") == config
    classifier = load_config("mnist-autoencoder-classifier")
    assert classifier.transfer.source == "runs/mnist-autoencoder"
    assert np.prod(config.data.input_shape) == 784
