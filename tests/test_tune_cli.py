"""``chainrule tune SEARCH.toml``: search files are checked, trials never see the test
set, and worker processes share one stored study."""

import csv
import textwrap

import pytest

from chainrule.cli import main
from chainrule.experiments.schema import ConfigError
from chainrule.experiments.tuning import ExperimentObjective, load_search

SEARCH = """
experiment = "digits"
method = "random"
trials = 2
holdout = 300
epochs = 1

[space]
"optimizer.lr" = {log_uniform = [1e-3, 1e-1]}
"model.layers.0.out" = [16, 32]
"""


def write(tmp_path, text, name="search.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_search_file_mistakes_are_named(tmp_path):
    with pytest.raises(ConfigError, match="methd: unknown key"):
        load_search(write(tmp_path, SEARCH.replace('method = "random"', 'methd = "random"')))
    with pytest.raises(
        ConfigError, match="the experiment has no 'optimiser'.*did you mean 'optimizer'"
    ):
        load_search(write(tmp_path, SEARCH.replace('"optimizer.lr"', '"optimiser.lr"')))
    with pytest.raises(ConfigError, match="position below 3"):
        load_search(write(tmp_path, SEARCH.replace('"model.layers.0.out"', '"model.layers.7.out"')))
    with pytest.raises(ConfigError, match="log_uniform"):
        load_search(write(tmp_path, SEARCH.replace("[1e-3, 1e-1]", "[0, 1e-1]")))


def test_a_search_never_scores_on_the_test_set(tmp_path):
    with pytest.raises(ConfigError, match="validates on the test set.*holdout"):
        load_search(write(tmp_path, SEARCH.replace("holdout = 300\n", "")))
    search = load_search(write(tmp_path, SEARCH))
    config = ExperimentObjective(search, str(tmp_path)).config_for(
        {"optimizer.lr": 0.01, "model.layers.0.out": 16}
    )
    assert config.data.validation == 300
    assert config.optimizer.args["lr"] == 0.01


def test_tune_runs_trials_and_writes_the_best_experiment(tmp_path, capsys):
    path = write(tmp_path, SEARCH)
    assert main(["tune", str(path), "--dir", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "random search" in printed and "best:" in printed
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    assert len(rows) == 2
    assert (
        main(
            [
                "train",
                str(tmp_path / "out" / "best.toml"),
                "--quiet",
                "--run-dir",
                str(tmp_path / "best"),
            ]
        )
        == 0
    )


def test_two_workers_share_one_stored_study(tmp_path, capsys):
    pytest.importorskip("optuna")
    path = write(tmp_path, SEARCH)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert (
        main(
            [
                "tune",
                str(path),
                "--storage",
                storage,
                "--workers",
                "2",
                "--dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    assert len(rows) == 4  # 2 trials per worker, none lost or repeated
    assert len({row["number"] for row in rows}) == 4
    assert len({row["run_dir"] for row in rows}) == 4


def test_a_bad_search_file_exits_with_one_line(tmp_path, capsys):
    path = write(tmp_path, SEARCH.replace('method = "random"', 'method = "annealing"'))
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "method" in err and "grid, random, bayesian" in err
