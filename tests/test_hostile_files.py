"""Hostile files in place of checkpoints: a zip bomb is refused before it is inflated,
a pipe or a link to a device is refused saying what it is, a checkpoint whose checksum
holds but that does not fit the run is named and fallen back from, and ``chainrule
evaluate`` warns about weights that are NaN or infinite."""

import os
import shutil
import tracemalloc
import zipfile

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.cli import main
from chainrule.errors import CheckpointError
from chainrule.train import fit
from chainrule.train.checkpoint import Checkpointer
from chainrule.train.serialization import load, save

BOMB_BYTES = 64 << 20  # 64 MiB of zeros in a file of about 64 KB


def write_bomb(path, member="weights.npy", size=BOMB_BYTES):
    """An .npz whose one member inflates to ``size`` bytes of zeros: a valid .npy header
    followed by zeros, deflated."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (size // 4,)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(member, "w", force_zip64=True) as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                handle.write(chunk)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.npz"
    write_bomb(path)
    assert path.stat().st_size < BOMB_BYTES // 100
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"weights\.npy.*declares \d+ bytes.*zip bomb"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BOMB_BYTES // 16, f"peak {peak} bytes while refusing"


def test_an_honest_checkpoint_still_loads(tmp_path):
    state = {"w": np.arange(1 << 16, dtype=np.float32), "b": np.zeros(3)}
    save(state, tmp_path / "ok.npz")
    loaded = load(tmp_path / "ok.npz")
    np.testing.assert_array_equal(loaded["w"], state["w"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_is_refused_saying_what_it_is(tmp_path):
    fifo = tmp_path / "step-000000001.npz"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match=r"is a named pipe \(FIFO\), not a chainrule file"):
        load(fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_link_to_a_device_is_refused_saying_what_it_is(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to("/dev/zero")
    with pytest.raises(
        CheckpointError, match=r"symbolic link to /dev/zero\): is a character device"
    ):
        load(link)
    dangling = tmp_path / "gone.npz"
    dangling.symlink_to(tmp_path / "nowhere.npz")
    with pytest.raises(
        CheckpointError, match=r"a symbolic link to .*nowhere\.npz, which does not exist"
    ):
        load(dangling)
    with pytest.raises(CheckpointError, match=r"is a directory"):
        load(tmp_path)


def tiny_run(directory, epochs, hidden=4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    model = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        batch_size=16,
        checkpoint_dir=directory,
        resume=epochs > 2,
        verbose=0,
    )
    return model, history


@pytest.mark.parametrize("impostor", ["other shapes", "weights only", "bomb", "fifo"])
def test_a_checkpoint_that_does_not_fit_is_named_and_fallen_back_from(tmp_path, capsys, impostor):
    tiny_run(tmp_path / "run", 2)
    checkpoints = Checkpointer(tmp_path / "run").paths()
    newest = checkpoints[-1]
    newest.unlink()
    if impostor == "other shapes":
        tiny_run(tmp_path / "other", 1, hidden=5)
        shutil.copy(Checkpointer(tmp_path / "other").paths()[-1], newest)
    elif impostor == "weights only":
        save(nn.Linear(3, 2).state_dict(), newest)
    elif impostor == "bomb":
        write_bomb(newest, size=8 << 20)
    else:
        os.mkfifo(newest)
    capsys.readouterr()
    _, history = tiny_run(tmp_path / "run", 3)
    err = capsys.readouterr().err
    assert str(newest) in err and "falling back to the previous checkpoint" in err
    assert len(history["loss"]) == 3


def test_chainrule_evaluate_warns_about_non_finite_weights(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "xor", "--epochs", "1", "--run-dir", str(run_dir), "--quiet"]) == 0
    best = run_dir / "checkpoints" / "best.npz"
    weights = load(best)
    save({k: np.full_like(v, np.nan) for k, v in weights.items()}, best)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert f"{best} holds" in err and "non-finite weights" in err
