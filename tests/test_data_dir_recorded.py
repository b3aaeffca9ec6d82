"""`chainrule train --data DIR` and the data folder a run used, recorded in its config.toml
so that `chainrule evaluate` works from a new shell (no CHAINRULE_DATA)."""

import pytest

from chainrule.cli import main
from chainrule.data.mnist import search_dirs
from chainrule.experiments import data_prep, load_config
from conftest import MNIST_DIR

HAVE_MNIST = (MNIST_DIR / "train-images-idx3-ubyte.gz").exists()
TINY = """
name = "tiny-mnist"
[data]
name = "mnist"
train_subset = 64
[model]
layers = [{type = "flatten"}, {type = "linear", out = 10}]
[optimizer]
name = "sgd"
[training]
epochs = 1
"""


@pytest.mark.skipif(not HAVE_MNIST, reason=f"needs MNIST in {MNIST_DIR}")
def test_train_data_dir_is_recorded_and_evaluate_needs_no_environment(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    load = data_prep.load_splits

    def small_test_set(config):  # keeps this quick
        train, (x_test, y_test) = load(config)
        return train, (x_test[:200], y_test[:200])

    monkeypatch.setattr(data_prep, "load_splits", small_test_set)
    (tmp_path / "tiny.toml").write_text(TINY)
    data_dir = MNIST_DIR.parent  # DIR holding mnist/, as CHAINRULE_DATA takes it
    run = tmp_path / "run"
    argv = ["train", str(tmp_path / "tiny.toml"), "--data", str(data_dir), "--run-dir", str(run)]
    assert main([*argv, "--quiet"]) == 0, capsys.readouterr().err
    assert load_config(run / "config.toml").data.path == str(MNIST_DIR.resolve())
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(run)]) == 0, capsys.readouterr().err
    assert "test accuracy" in capsys.readouterr().out


def test_a_missing_data_dir_is_named(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    code = main(["train", str(tmp_path / "tiny.toml"), "--data", str(tmp_path / "nowhere")])
    assert code == 2
    assert f"data.path: {tmp_path / 'nowhere'} is not a directory" in capsys.readouterr().err


def test_data_path_is_searched_as_chainrule_data_is(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    places = search_dirs(tmp_path / "dir")
    assert places[:4] == [
        tmp_path / "dir" / "mnist",
        tmp_path / "dir",
        tmp_path / "env" / "mnist",
        tmp_path / "env",
    ]
