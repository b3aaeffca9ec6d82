"""The ``chainrule`` command: list, train, evaluate, and one clear message per error."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.experiments import ConfigError, named_experiments

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
SRC = Path(__file__).resolve().parents[1] / "src"

TINY_CNN = """
name = "tiny-cnn"
description = "a tiny CNN on the digits"

[data]
name = "digits"

[model]
layers = [
    {type = "conv2d", out = 4, kernel = 3, padding = 1},
    {type = "relu"},
    {type = "maxpool2d", kernel = 2},
    {type = "flatten"},
    {type = "linear", out = 10},
]

[optimizer]
name = "adam"

[training]
epochs = 1
"""


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One ``chainrule train digits --epochs 2`` shared by the tests that read its run directory."""
    run_dir = tmp_path_factory.mktemp("cli") / "digits-run"
    code = main(["train", "digits", "--epochs", "2", "--run-dir", str(run_dir), "--quiet"])
    return code, run_dir


def test_list_shows_every_named_experiment_with_its_lecture_figure(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == sorted(named_experiments())
    assert re.search(r"keras-mlp\s+98\.40%", out)
    assert re.search(r"digits\s+-\s+scikit-learn", out)


def test_train_writes_a_complete_run_directory(digits_run):
    code, run_dir = digits_run
    assert code == 0
    for name in ("config.toml", "history.csv", "metrics.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.npz").is_file()
    assert (run_dir / "checkpoints" / "last.npz").is_file()
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    if HAVE_MATPLOTLIB:
        for name in ("loss.png", "accuracy.png", "confusion_matrix.png", "misclassified.png"):
            assert (run_dir / name).read_bytes()[:4] == b"\x89PNG", name


def test_metrics_json_reports_the_test_set_the_run_and_the_machine(digits_run):
    metrics = json.loads((digits_run[1] / "metrics.json").read_text())
    assert 0.5 < metrics["test"]["accuracy"] <= 1 and metrics["test"]["samples"] == 360
    assert metrics["epochs_run"] == 2
    assert len(metrics["per_class"]["precision"]) == len(metrics["per_class"]["recall"]) == 10
    matrix = metrics["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 360
    assert metrics["machine"]["cores"] >= 1 and metrics["machine"]["cpu"]
    assert metrics["chainrule_version"] and metrics["wall_time_s"] > 0


def test_the_run_directory_records_the_resolved_config(digits_run):
    text = (digits_run[1] / "config.toml").read_text()
    assert 'name = "digits"' in text and "epochs = 2" in text  # the override is recorded
    assert "betas = [0.9, 0.999]" in text  # and the optimiser's defaults


def test_evaluate_reprints_the_test_metrics_of_the_run(digits_run, capsys):
    metrics = json.loads((digits_run[1] / "metrics.json").read_text())
    code, out, _ = run_cli(capsys, "evaluate", digits_run[1])
    assert code == 0
    assert f"test accuracy {100 * metrics['test']['accuracy']:.2f}%" in out
    assert "confusion matrix" in out


def test_train_a_toml_file_cnn_draws_its_filters(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CNN)
    code, out, _ = run_cli(capsys, "train", path, "--run-dir", tmp_path / "run", "--seed", "3")
    assert code == 0
    assert "tiny-cnn: test accuracy" in out and "Conv2d" in out  # the model summary
    assert "seed = 3" in (tmp_path / "run" / "config.toml").read_text()
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "run" / "filters.png").is_file()


def test_unknown_experiment_file_is_one_line_and_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", tmp_path / "digts.toml")
    assert code == 2
    assert err.count("\n") == 1 and "no such experiment file" in err
    assert "Traceback" not in err


def test_unknown_experiment_name_lists_the_names(capsys):
    code, _, err = run_cli(capsys, "train", "keras_mlp")
    assert code == 2
    assert "did you mean 'keras-mlp'?" in err and "nielsen-fc" in err


def test_schema_and_syntax_errors_exit_2_naming_the_key_or_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(TINY_CNN.replace('name = "adam"', 'name = "adam"\nlrr = 0.1'))
    code, _, err = run_cli(capsys, "train", path)
    assert code == 2 and "optimizer.lrr" in err and "did you mean 'lr'?" in err
    path.write_text(TINY_CNN.replace("epochs = 1", "epochs = "))
    code, _, err = run_cli(capsys, "train", path)
    assert code == 2 and "TOML syntax error" in err and "line 21" in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(ConfigError):
        main(["train", str(tmp_path / "digts.toml"), "--debug"])
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", str(tmp_path / "digts.toml"), "--debug"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
    )
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_unwritable_run_directory_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(capsys, "train", "xor", "--run-dir", blocker / "run")
    assert code == 2
    assert err.startswith("chainrule: error: cannot write the run directory")
    assert err.count("\n") == 1


def test_missing_data_directory_exits_2(tmp_path, capsys):
    path = tmp_path / "mnist.toml"
    path.write_text(
        f'[data]\nname = "mnist"\npath = "{tmp_path / "nowhere"}"\nflatten = true\n'
        '[model]\nlayers = [{type = "linear", out = 10}]\n'
        '[optimizer]\nname = "sgd"\n[training]\nepochs = 1\n'
    )
    code, _, err = run_cli(capsys, "train", path, "--run-dir", tmp_path / "run")
    assert code == 2 and "data.path" in err and "is not a directory" in err


def test_resume_continues_a_run_directory(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(capsys, "train", "xor", "--epochs", "3", "--run-dir", run_dir, "--quiet")[0] == 0
    code, out, _ = run_cli(capsys, "train", "xor", "--epochs", "5", "--resume", run_dir)
    assert code == 0 and "resumed from" in out
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 5


def test_resume_refuses_another_experiment(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(capsys, "train", "xor", "--epochs", "1", "--run-dir", run_dir, "--quiet")[0] == 0
    code, _, err = run_cli(capsys, "train", "digits", "--resume", run_dir)
    assert code == 2 and "holds a run of 'xor' with another config" in err


def test_ensemble_members_train_apart_and_resume_tests_them_together(tmp_path, capsys):
    path = tmp_path / "pair.toml"
    path.write_text(TINY_CNN + "\n[ensemble]\nmembers = 2\n")
    run_dir = tmp_path / "run"
    for i in ("1", "0"):
        code, out, _ = run_cli(capsys, "train", path, "--member", i, "--run-dir", run_dir)
        assert code == 0 and f"tiny-cnn member {i}: test accuracy" in out
    assert not (run_dir / "metrics.json").exists()
    code, out, _ = run_cli(capsys, "train", path, "--resume", run_dir, "--quiet")
    assert code == 0 and "tiny-cnn: test accuracy" in out
    members = json.loads((run_dir / "metrics.json").read_text())["members"]
    assert [m["seed"] for m in members] == [0, 1]


def test_member_needs_a_shared_run_directory(tmp_path, capsys):
    path = tmp_path / "pair.toml"
    path.write_text(TINY_CNN + "\n[ensemble]\nmembers = 2\n")
    code, _, err = run_cli(capsys, "train", path, "--member", "0")
    assert code == 2 and "--member needs --run-dir" in err
    code, _, err = run_cli(capsys, "train", path, "--member", "2", "--run-dir", tmp_path / "r")
    assert code == 2 and "members 0 to 1" in err


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "list"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
    )
    assert result.returncode == 0 and "nielsen-ensemble" in result.stdout
