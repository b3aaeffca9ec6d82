"""[transfer] in experiment files: reuse a run's lower layers under a new head, freeze them,
fine-tune, and record it all in the run directory."""

import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.diagnose.monitor import Monitor
from chainrule.experiments import ConfigError, load_config, loads, run_experiment, to_toml
from chainrule.train import load

SOURCE = """
name = "source"
[data]
name = "digits"
flatten = true
[model]
layers = [{type = "linear", out = 32}, {type = "batchnorm"}, {type = "relu"}, {type = "linear", out = 10}]
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 2
"""


@pytest.fixture(scope="module", autouse=True)
def no_plots():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
        save = Monitor.save
        patch.setattr(Monitor, "save", lambda self, run_dir, plot=True: save(self, run_dir, False))
        yield


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "source"
    run_experiment(loads(SOURCE), run_dir, verbose=0)
    return run_dir


def transfer_config(source_run, transfer="", model=True):
    text = SOURCE.replace('name = "source"', 'name = "target"')
    if not model:
        start = text.index("[model]")
        text = text[:start] + text[text.index("[optimizer]") :]
    return loads(text + f'[transfer]\nfrom = "{source_run}"\n{transfer}')


def test_transfer_reuses_and_freezes_the_layers_below_the_head_by_default(source_run, tmp_path):
    config = transfer_config(source_run)
    assert (config.transfer.layers, config.transfer.freeze) == (3, 3)
    result = run_experiment(config, tmp_path / "target", verbose=0)
    source = load(source_run / "checkpoints" / "best.npz")
    target = load(tmp_path / "target" / "checkpoints" / "best.npz")
    # Flatten is layer 0 of the Sequential: [model] layer i is Sequential index i + 1
    for key in ("1.weight", "1.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var"):
        np.testing.assert_array_equal(target[key], source[key], err_msg=key)
    assert not np.array_equal(target["4.weight"], source["4.weight"])  # the head learned
    record = json.loads((tmp_path / "target" / "transfer.json").read_text())
    assert record["frozen_layers"] == ["0: linear", "1: batchnorm", "2: relu"]
    assert record["new_layers"] == ["3: linear"]
    assert record["initialised_keys"] == ["4.weight", "4.bias"]
    assert result.metrics["transfer"]["from"] == str(source_run)


def test_fine_tuning_phase_unfreezes_everything_at_a_lower_rate(source_run, tmp_path):
    config = transfer_config(source_run, "fine_tune_epochs = 1\nfine_tune_lr = 0.001")
    result = run_experiment(config, tmp_path / "tuned", verbose=0)
    assert len(result.histories[0]) == 3
    assert result.histories[0]["lr"][-1] == pytest.approx(0.001)
    source = load(source_run / "checkpoints" / "best.npz")
    tuned = load(tmp_path / "tuned" / "checkpoints" / "best.npz")
    assert not np.array_equal(tuned["1.weight"], source["1.weight"])


def test_without_a_model_the_source_model_gets_a_new_head_and_the_config_states_it(source_run):
    config = transfer_config(source_run, "layers = 1\nfreeze = 0", model=False)
    assert [layer.type for layer in config.model.layers] == [
        "linear",
        "batchnorm",
        "relu",
        "linear",
    ]
    assert (config.transfer.layers, config.transfer.freeze) == (1, 0)
    assert loads(to_toml(config)) == config  # the run's config.toml says everything


def test_transfer_refuses_a_source_whose_reused_layer_has_another_shape(source_run, tmp_path):
    config = transfer_config(source_run)
    text = to_toml(config).replace("out = 32", "out = 16")
    with pytest.raises(ConfigError, match=r"1.weight: expected \(16, 64\), got \(32, 64\)"):
        run_experiment(loads(text), tmp_path / "bad", verbose=0)


def test_transfer_refuses_a_missing_source_and_says_what_it_expected(tmp_path):
    config = transfer_config(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not exist; expected a run directory"):
        run_experiment(config, tmp_path / "x", verbose=0)


def test_transfer_refuses_freezing_more_layers_than_it_reuses(source_run):
    with pytest.raises(ConfigError, match=r"transfer.freeze: expected at most the 2 layers"):
        transfer_config(source_run, "layers = 2\nfreeze = 3")


def test_chainrule_train_prints_what_was_reused_and_frozen(source_run, tmp_path, capsys):
    path = tmp_path / "target.toml"
    path.write_text(to_toml(transfer_config(source_run)))
    assert main(["train", str(path), "--run-dir", str(tmp_path / "cli"), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert f"transfer from {source_run}:" in out
    assert "frozen layers 0: linear, 1: batchnorm, 2: relu" in out
    assert "new layers 3: linear" in out
    assert load_config(tmp_path / "cli" / "config.toml").transfer.source == str(source_run)
