"""Experiments: the TOML schema's errors, layer-size inference, data preparation, runs."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from chainrule import nn
from chainrule.experiments import (
    ConfigError,
    RunDirectoryError,
    adopt_member,
    build_model,
    evaluate_run,
    load_config,
    loads,
    named_experiments,
    run_experiment,
    to_toml,
)
from chainrule.experiments.data_prep import prepare_data
from chainrule.experiments.toml import dumps
from chainrule.experiments.toml import loads as toml_loads
from chainrule.train import load

DIGITS_MLP = """
name = "tiny"

[data]
name = "digits"
flatten = true

[model]
layers = [{type = "linear", out = 16}, {type = "relu"}, {type = "linear", out = 10}]

[optimizer]
name = "sgd"
lr = 0.1

[training]
epochs = 1
"""


def config_with(replace: str = "", add: str = "") -> str:
    """DIGITS_MLP with one line replaced (``old => new``) and/or lines added at the end."""
    text = DIGITS_MLP
    if replace:
        old, new = replace.split(" => ")
        assert old in text
        text = text.replace(old, new)
    return text + add


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        loads(text)
    return str(info.value)


# ---------------------------------------------------------------- schema errors
def test_unknown_optimizer_key_names_it_suggests_and_lists_the_valid_ones():
    message = error_of(config_with("lr = 0.1 => lrr = 0.1"))
    assert "optimizer.lrr" in message
    assert "did you mean 'lr'?" in message
    assert "valid keys: name, lr, momentum, dampening, nesterov, weight_decay" in message


def test_bad_choice_names_the_key_the_value_and_the_options():
    message = error_of(config_with('flatten = true => flatten = true\nnormalize = "zscore"'))
    assert "data.normalize" in message and "'zscore'" in message
    assert "'unit', 'standardize', 'none'" in message


def test_wrong_type_says_what_was_expected_and_got():
    message = error_of(config_with('epochs = 1 => epochs = "ten"'))
    assert "training.epochs: expected an integer >= 1; got 'ten'" in message


def test_unknown_top_level_key_is_caught():
    message = error_of(config_with('name = "tiny" => nmae = "tiny"'))
    assert "nmae: unknown key (did you mean 'name'?)" in message


def test_unknown_layer_type_suggests_the_close_one():
    message = error_of(config_with('{type = "relu"} => {type = "conv"}'))
    assert "model.layers[1].type" in message and "'conv'" in message
    assert "did you mean 'conv2d'?" in message


def test_misspelt_layer_key_is_named_with_its_index():
    text = config_with('{type = "relu"} => {type = "dropout", pp = 0.5}')
    message = error_of(text)
    assert "model.layers[1].pp: unknown key (did you mean 'p'?)" in message


def test_bad_layer_value_is_named():
    message = error_of(config_with('{type = "relu"} => {type = "dropout", p = 1.5}'))
    assert "model.layers[1].p: expected a number >= 0 and < 1; got 1.5" in message


def test_optimizer_values_are_checked_by_the_optimiser_and_blamed_on_the_key():
    message = error_of(config_with("lr = 0.1 => lr = -1.0"))
    assert message.startswith("<string>: optimizer.lr:")
    assert "-1.0" in message


def test_a_missing_section_is_named():
    text = DIGITS_MLP.split("[training]")[0]
    assert "[training]: missing" in error_of(text)


def test_a_missing_required_key_is_named():
    assert "training.epochs: missing" in error_of(config_with("epochs = 1 => batch_size = 8"))


def test_toml_syntax_errors_give_the_line():
    message = error_of(config_with("lr = 0.1 => lr = = 0.1"))
    assert "TOML syntax error" in message and "line 13" in message


def test_schedule_arguments_are_checked_against_the_schedule():
    message = error_of(config_with(add='\n[schedule]\nname = "StepLR"\nstep = 3\n'))
    assert "schedule.step: unknown key (did you mean 'step_size'?)" in message
    message = error_of(config_with(add='\n[schedule]\nname = "StepLR"\n'))
    assert "schedule.step_size: missing" in message


def test_early_stopping_monitor_must_be_logged():
    text = config_with(add='early_stopping = {monitor = "val_acc"}\n')
    message = error_of(text)
    assert "training.early_stopping.monitor" in message
    assert "did you mean 'val_accuracy'?" in message


def test_augmentation_needs_images():
    text = config_with('name = "digits" => name = "xor"').replace("flatten = true", "")
    text = text.replace("out = 10}", "out = 2}")
    message = error_of(text + "\n[augmentation]\nrotate = 10\n")
    assert "[augmentation]: needs image data" in message


def test_unknown_experiment_lists_the_named_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"did you mean 'digits'\?.*keras-mlp"):
        load_config("digts")
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_config(tmp_path / "missing.toml")


def test_errors_from_a_file_start_with_its_path(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(config_with("lr = 0.1 => lrr = 0.1"))
    with pytest.raises(ConfigError, match=r"^.*bad\.toml: optimizer\.lrr"):
        load_config(path)


# ---------------------------------------------------------------- building models
def test_input_sizes_are_inferred_for_an_mlp():
    model = build_model(loads(DIGITS_MLP))
    assert [tuple(p.shape) for p in model.parameters()] == [(16, 64), (16,), (10, 16), (10,)]


def test_input_sizes_are_inferred_through_convolutions_and_pooling():
    model = build_model(load_config("nielsen-conv2"))
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [tuple(c.weight.shape) for c in convs] == [(20, 1, 5, 5), (40, 20, 5, 5)]
    assert [tuple(lin.weight.shape) for lin in linears] == [(100, 40 * 4 * 4), (10, 100)]


def test_batchnorm_takes_the_channels_it_is_given():
    text = config_with('{type = "relu"} => {type = "batchnorm"}')
    model = build_model(loads(text))
    assert isinstance(model[2], nn.BatchNorm1d) and model[2].num_features == 16


def test_an_initializer_takes_its_arguments_from_a_table():
    layer = '{type = "linear", out = 16, init = {name = "normal", std = 0.5}, bias_init = "ones"}'
    model = build_model(loads(config_with('{type = "linear", out = 16} => ' + layer)))
    assert float(model[1].weight.numpy().std()) == pytest.approx(0.5, rel=0.1)
    assert (model[1].bias.numpy() == 1).all()
    message = error_of(config_with('{type = "linear", out = 16} => ' + layer.replace("std", "sd")))
    assert "model.layers[0].init.sd: unknown key (did you mean 'std'?)" in message


def test_a_file_without_a_name_is_named_after_the_file(tmp_path):
    path = tmp_path / "my run.toml"
    path.write_text(DIGITS_MLP.replace('name = "tiny"', ""))
    config = load_config(path)
    assert config.name == "my-run"
    assert loads(to_toml(config)) == config


def test_dense_layer_on_feature_maps_asks_for_a_flatten():
    text = config_with("flatten = true => flatten = false").replace(
        '{type = "linear", out = 16}', '{type = "conv2d", out = 4, kernel = 3}'
    )
    with pytest.raises(
        ConfigError, match=r'model.layers\[2\] \(linear\).*add \{type = "flatten"\}'
    ):
        build_model(loads(text))


def test_a_kernel_larger_than_its_input_names_the_layer():
    text = config_with("flatten = true => flatten = false").replace(
        '{type = "linear", out = 16}', '{type = "conv2d", out = 4, kernel = 9}, {type = "flatten"}'
    )
    with pytest.raises(ConfigError, match=r"model.layers\[0\] \(conv2d\)"):
        build_model(loads(text))


def test_the_output_must_match_the_classes():
    text = config_with('{type = "linear", out = 10}] => {type = "linear", out = 7}]')
    with pytest.raises(ConfigError, match=r"outputs of shape \(N, 7\).*10 classes"):
        build_model(loads(text))


@pytest.mark.parametrize("name", sorted(named_experiments()))
def test_every_named_experiment_parses_and_builds(name):
    config = load_config(name)
    assert config.name == name and config.description and config.reference
    model = build_model(config)
    assert model.num_parameters() > 0


@pytest.mark.parametrize("name", sorted(named_experiments()))
def test_named_experiments_round_trip_through_toml(name):
    config = load_config(name)
    text = to_toml(config)
    assert loads(text) == config
    assert to_toml(loads(text)) == text


def test_mnist_experiments_state_the_lecture_figure():
    figures = {n: load_config(n).lecture_accuracy for n in named_experiments()}
    assert figures["keras-mlp"] == 98.40 and figures["keras-cnn"] == 99.25
    assert figures["nielsen-fc"] == 97.80 and figures["nielsen-ensemble"] == 99.67
    assert figures["srivastava-dropout"] == pytest.approx(100 - 1.06)


def test_nielsen_l2_is_lambda_over_the_number_of_mini_batches():
    # network3.py: cost + 0.5 * lambda * ||w||^2 / num_training_batches
    assert load_config("nielsen-relu").regularization.l2 == pytest.approx(0.1 / (50_000 / 10))
    assert load_config("nielsen-expanded").regularization.l2 == pytest.approx(0.1 / (250_000 / 10))


def test_toml_writer_round_trips_awkward_values():
    document = {
        "text": 'quote " backslash \\ newline \n tab \t unicode é \x7f',
        "numbers": [1, -2.5, 1e-8, float("inf")],
        "flag": False,
        "table": {"inline": {"a": 1, "b": [1, 2]}, "rows": [{"type": "x"}, {"type": "y"}]},
    }
    assert toml_loads(dumps(document)) == document


# ---------------------------------------------------------------- data
def test_validation_holds_out_the_last_training_images_and_subset_takes_the_first():
    config = loads(
        config_with("flatten = true => flatten = true\nvalidation = 200\ntrain_subset = 500")
    )
    data = prepare_data(config)
    assert data.train.arrays[0].shape == (500, 1, 8, 8)
    assert data.validation[0].shape == (200, 1, 8, 8) and data.test[0].shape == (360, 1, 8, 8)
    assert "200 validation" in data.description


def test_expansion_gives_five_images_per_training_image():
    text = config_with("flatten = true => expand_shifts = true\ntrain_subset = 10").replace(
        '{type = "linear", out = 16}', '{type = "flatten"}, {type = "linear", out = 16}'
    )
    data = prepare_data(loads(text))
    x, y = data.train.arrays
    assert x.shape == (50, 1, 8, 8)
    np.testing.assert_array_equal(y[:10], y[40:])


def test_normalisation_uses_training_statistics():
    unit = prepare_data(loads(DIGITS_MLP))
    batch, _ = unit.train.get_batch(np.arange(64))
    assert batch.dtype == np.float32 and batch.shape == (64, 1, 8, 8)
    assert batch.min() == 0.0 and batch.max() == 1.0
    standard = prepare_data(loads(config_with('flatten = true => normalize = "standardize"')))
    everything, _ = standard.train.get_batch(np.arange(len(standard.train)))
    assert abs(float(everything.mean())) < 1e-4 and float(everything.std()) == pytest.approx(
        1, abs=1e-4
    )


def test_augmentation_becomes_part_of_the_training_transform():
    text = config_with(add="\n[augmentation]\ntranslate = 1\nnoise = 0.1\n")
    data = prepare_data(loads(text))
    names = [type(t).__name__ for t in data.train_transform.transforms]
    assert names == ["RandomTranslation", "GaussianNoise"]


# ---------------------------------------------------------------- runs
@pytest.fixture
def no_plots(monkeypatch):
    """Runs whose plots these tests do not look at (test_cli.py checks the plots)."""
    monkeypatch.setattr("chainrule.experiments.runner._plots", lambda *args: None)


def test_held_out_validation_reports_the_best_epoch_and_evaluate_agrees(tmp_path, no_plots):
    config = loads(config_with("flatten = true => flatten = true\nvalidation = 300"))
    result = run_experiment(config, tmp_path / "run", epochs=4, verbose=0)
    member = result.metrics["members"][0]
    accuracies = result.histories[0]["val_accuracy"]
    assert member["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert f"epoch {member['best_epoch']}" in result.metrics["weights"]
    again = evaluate_run(tmp_path / "run")
    assert again["test"]["accuracy"] == result.test_accuracy
    assert again["confusion_matrix"] == result.metrics["confusion_matrix"]


def test_an_ensemble_trains_members_with_consecutive_seeds(tmp_path, no_plots):
    config = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    result = run_experiment(config, tmp_path / "run", verbose=0)
    assert [m["seed"] for m in result.metrics["members"]] == [0, 1]
    for i in range(2):
        assert (tmp_path / "run" / "members" / str(i) / "checkpoints" / "best.npz").is_file()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["weights"].startswith("the average of 2 members")
    assert 0 < metrics["test"]["vote_accuracy"] <= 1
    assert evaluate_run(tmp_path / "run")["test"]["accuracy"] == result.test_accuracy


def test_regularization_schedule_and_early_stopping_are_wired_in(tmp_path, no_plots):
    text = config_with(
        add=(
            'early_stopping = {monitor = "val_loss", patience = 1, min_delta = 10.0}\n'
            "\n[regularization]\nl2 = 1e-3\nmax_norm = 0.5\n"
            '\n[schedule]\nname = "StepLR"\nstep_size = 1\ngamma = 0.5\n'
        )
    )
    result = run_experiment(loads(text), tmp_path / "run", epochs=5, verbose=0)
    history = result.histories[0]
    assert len(history) == 2  # min_delta 10 means no epoch is an improvement
    assert history["lr"] == [0.1, 0.05]
    assert "penalty" in history
    weights = load(tmp_path / "run" / "checkpoints" / "last.npz")
    for name in ("1.weight", "3.weight"):  # after the Flatten that data.flatten puts first
        assert np.linalg.norm(weights[name], axis=1).max() <= 0.5 + 1e-6


def test_a_run_directory_is_not_overwritten(tmp_path, no_plots):
    config = loads(DIGITS_MLP)
    run_experiment(config, tmp_path / "run", verbose=0)
    with pytest.raises(RunDirectoryError, match="already holds a run"):
        run_experiment(config, tmp_path / "run", verbose=0)


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path, no_plots):
    config = loads(config_with("flatten = true => flatten = true\nvalidation = 300"))
    whole = run_experiment(config, tmp_path / "whole", epochs=3, verbose=0)
    run_experiment(config, tmp_path / "cut", epochs=2, verbose=0)
    resumed = run_experiment(config, tmp_path / "cut", epochs=3, resume=True, verbose=0)
    assert resumed.histories[0].history == whole.histories[0].history
    assert resumed.metrics["confusion_matrix"] == whole.metrics["confusion_matrix"]
    assert "epochs = 3" in (tmp_path / "cut" / "config.toml").read_text()


def test_resume_needs_the_same_config_but_for_the_epochs(tmp_path, no_plots):
    config = loads(DIGITS_MLP)
    with pytest.raises(RunDirectoryError, match="nothing to resume"):
        run_experiment(config, tmp_path / "run", resume=True, verbose=0)
    run_experiment(config, tmp_path / "run", verbose=0)
    other = dataclasses.replace(config, seed=5)
    with pytest.raises(RunDirectoryError, match="with another config"):
        run_experiment(other, tmp_path / "run", resume=True, verbose=0)


def test_resuming_a_finished_run_keeps_the_time_of_the_leg_that_trained_it(tmp_path, no_plots):
    config = loads(config_with())
    first = run_experiment(config, tmp_path / "run", verbose=0)
    again = run_experiment(config, tmp_path / "run", resume=True, verbose=0)
    assert again.metrics["training_time_s"] == first.metrics["training_time_s"] > 0
    assert again.metrics["members"][0]["resumed"] is False  # nothing was trained this leg
    assert again.metrics["epochs_run"] == first.metrics["epochs_run"]


def test_resuming_an_ensemble_trains_the_members_not_yet_started(tmp_path, no_plots):
    config = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    whole = run_experiment(config, tmp_path / "whole", verbose=0)
    run_experiment(config, tmp_path / "cut", verbose=0)
    # as if killed before the second member had finished an epoch
    for path in (tmp_path / "cut" / "members" / "1").rglob("*"):
        if path.is_file():
            path.unlink()
    resumed = run_experiment(config, tmp_path / "cut", resume=True, verbose=0)
    assert resumed.metrics["confusion_matrix"] == whole.metrics["confusion_matrix"]


def test_an_ensembles_member_0_is_the_single_run_with_the_same_seed(tmp_path, no_plots):
    """What lets a finished single run stand for member 0 (the lecture table's ensembles)."""
    single = run_experiment(loads(config_with()), tmp_path / "single", verbose=0)
    ensemble = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    member = run_experiment(ensemble, tmp_path / "ensemble", member=0, verbose=0)
    assert member.metrics["test_accuracy"] == single.metrics["test"]["accuracy"]
    a = np.load(tmp_path / "single" / "checkpoints" / "best.npz")
    b = np.load(tmp_path / "ensemble" / "members" / "0" / "checkpoints" / "best.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


def test_an_adopted_single_run_stands_for_its_member(tmp_path, no_plots):
    ensemble = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    whole = run_experiment(ensemble, tmp_path / "whole", verbose=0)
    alone = dataclasses.replace(ensemble, ensemble=None, seed=1, name="alone")  # member 1's own run
    single = run_experiment(alone, tmp_path / "single", verbose=0)
    adopt_member(ensemble, tmp_path / "split", 1, tmp_path / "single")
    run_experiment(ensemble, tmp_path / "split", member=0, verbose=0)
    tested = run_experiment(ensemble, tmp_path / "split", resume=True, verbose=0)
    assert tested.metrics["confusion_matrix"] == whole.metrics["confusion_matrix"]
    adopted = tested.metrics["members"][1]
    assert adopted["training_time_s"] == single.metrics["members"][0]["training_time_s"]
    assert adopted["resumed"] is False and adopted["seed"] == 1


def test_adopting_a_run_that_is_not_the_member_refuses(tmp_path, no_plots):
    ensemble = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    run_experiment(dataclasses.replace(ensemble, ensemble=None), tmp_path / "seed0", verbose=0)
    with pytest.raises(RunDirectoryError, match="not member 1 .* seed 1, all else the same"):
        adopt_member(ensemble, tmp_path / "split", 1, tmp_path / "seed0")
    with pytest.raises(RunDirectoryError, match="no finished run to adopt"):
        adopt_member(ensemble, tmp_path / "split", 1, tmp_path / "nothing")
    with pytest.raises(ConfigError, match="has members 0 to 1"):
        adopt_member(ensemble, tmp_path / "split", 2, tmp_path / "seed0")
    assert not (tmp_path / "split" / "members").exists()


def test_members_trained_one_at_a_time_give_the_ensemble_of_one_run(tmp_path, no_plots):
    config = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    whole = run_experiment(config, tmp_path / "whole", verbose=0)
    for i in (1, 0):  # in any order, as separate processes would finish them
        alone = run_experiment(config, tmp_path / "split", member=i, verbose=0)
        assert alone.metrics["seed"] == i
        assert alone.metrics["test_accuracy"] == whole.metrics["members"][i]["test_accuracy"]
        assert not (tmp_path / "split" / "metrics.json").exists()  # the ensemble is not tested
    record = json.loads((tmp_path / "split" / "members" / "1" / "member.json").read_text())
    assert record["epochs_run"] == 1 and record["training_time_s"] > 0
    assert record["resumed"] is False
    tested = run_experiment(config, tmp_path / "split", resume=True, verbose=0)
    assert tested.metrics["confusion_matrix"] == whole.metrics["confusion_matrix"]
    times = [m["training_time_s"] for m in tested.metrics["members"]]
    assert times[1] == record["training_time_s"]  # the leg that trained it, not the re-test
    assert not any(m["resumed"] for m in tested.metrics["members"])
    assert tested.metrics["members_training_time_s"] == pytest.approx(sum(times), abs=2e-3)


def test_a_member_given_more_epochs_records_a_resumed_leg(tmp_path, no_plots):
    config = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    run_experiment(config, tmp_path / "run", member=0, verbose=0)
    longer = run_experiment(config, tmp_path / "run", epochs=2, member=0, verbose=0)
    assert longer.metrics["epochs_run"] == 2 and longer.metrics["resumed"] is True
    # its time is both legs' (the checkpoint carried the first one's: tests/test_resume.py)
    assert longer.metrics["training_time_partial"] is False


def test_member_must_name_a_member_of_an_ensemble(tmp_path, no_plots):
    with pytest.raises(ConfigError, match="not an ensemble"):
        run_experiment(loads(DIGITS_MLP), tmp_path / "run", member=0, verbose=0)
    ensemble = loads(config_with(add="\n[ensemble]\nmembers = 2\n"))
    with pytest.raises(ConfigError, match="members 0 to 1"):
        run_experiment(ensemble, tmp_path / "run", member=2, verbose=0)
    assert not (tmp_path / "run").exists()


def test_configs_are_frozen():
    config = loads(DIGITS_MLP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]


def test_the_readme_example_experiment_parses_and_builds():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    text = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = loads(text)
    assert config.name == "small-cnn" and config.augmentation.rotate == 10
    assert build_model(config)[0].out_channels == 32
