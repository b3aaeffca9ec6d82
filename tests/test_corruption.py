"""Damaged files are refused, naming the file, in every way we could think of damaging them;
resume falls back past them; nothing is ever unpickled."""

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import CheckpointError
from chainrule.train import Trainer, load, save
from chainrule.train.checkpoint import Checkpointer
from chainrule.train.serialization import load_arrays, save_arrays

STATE = {
    "model": {"w": np.arange(60, dtype=np.float32).reshape(6, 10), "b": np.ones(6)},
    "progress": {"epoch": 3, "batch": 7},
    "rng": {"state": 2**100 + 1},
    "history": [0.5, float("inf"), None],
}


def same_as_state(loaded):
    return (
        loaded["progress"] == STATE["progress"]
        and loaded["rng"] == STATE["rng"]
        and loaded["history"] == STATE["history"]
        and all(
            np.array_equal(loaded["model"][k], v) and loaded["model"][k].dtype == v.dtype
            for k, v in STATE["model"].items()
        )
    )


def good_file(tmp_path, suffix):
    path = tmp_path / f"good{suffix}"
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    save(STATE, path)
    return path.read_bytes()


def outcome(path):
    """'rejected' (a CheckpointError naming the file), 'intact' (loaded, contents identical),
    or what went wrong."""
    try:
        loaded = load(path)
    except CheckpointError as error:
        return "rejected" if path.name in str(error) else f"unnamed: {error}"
    except Exception as error:
        return f"escaped: {type(error).__name__}: {error}"
    return "intact" if same_as_state(loaded) else "loaded wrong contents"


def damaged_variants(good, seed):
    """Truncation at every length, every byte flipped, then random overwrites and insertions."""
    yield from (good[:n] for n in range(len(good)))
    for i in range(len(good)):
        flipped = bytearray(good)
        flipped[i] ^= 0xFF
        yield bytes(flipped)
    rng = np.random.default_rng(seed)
    for _ in range(300):
        data = bytearray(good)
        for i in rng.integers(0, len(data), rng.integers(1, 8)):
            data[i] = rng.integers(0, 256)
        yield bytes(data)
    for _ in range(100):
        i = int(rng.integers(0, len(good)))
        yield good[:i] + rng.bytes(int(rng.integers(1, 64))) + good[i:]


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_every_truncation_flip_and_overwrite_is_rejected_or_loads_intact(tmp_path, suffix):
    good = good_file(tmp_path, suffix)
    path = tmp_path / f"damaged{suffix}"
    results = {}
    for data in damaged_variants(good, seed=len(suffix)):
        path.unlink(missing_ok=True)  # a fresh file: truncating one in place is slow on ext4
        path.write_bytes(data)
        result = outcome(path)
        results[result] = results.get(result, 0) + 1
    assert set(results) <= {"rejected", "intact"}, results
    assert results["rejected"] > 2 * len(good)
    # 'intact': the damaged byte lay outside the contents (a zip timestamp, header padding)


def test_changed_contents_under_an_intact_container_fail_the_checksum(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.zeros(1000, np.float32)}, path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["/w"][500] = 1.0  # a well-formed zip (its CRCs hold) around one changed value
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"m\.npz: checksum mismatch"):
        load(path)


def wrong_files(tmp_path):
    """name -> a file that is not a chainrule file, built by the writer given."""
    pickled = pickle.dumps({"w": np.ones(3)})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    plain_npz = io.BytesIO()
    np.savez(plain_npz, w=np.ones(3))  # no checksum, no metadata
    bare_npy = io.BytesIO()
    np.save(bare_npy, np.ones(3))
    return {
        "empty.npz": b"",
        "empty.safetensors": b"",
        "text.npz": b"epoch=3\nloss=0.5\n",
        "json.safetensors": json.dumps({"w": [1, 2, 3]}).encode(),
        "random.npz": np.random.default_rng(0).bytes(4096),
        "random.safetensors": np.random.default_rng(1).bytes(4096),
        "pickle.npz": pickled,
        "pickle.safetensors": pickled,
        "zip-of-text.npz": archive.getvalue(),
        "numpy-savez.npz": plain_npz.getvalue(),
        "bare-npy.npz": bare_npy.getvalue(),
        "huge-header.safetensors": (2**62).to_bytes(8, "little") + b"{}",
    }


def test_files_of_the_wrong_format_are_rejected_naming_the_file(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    files = wrong_files(tmp_path)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    save_file({"w": np.ones(3, np.float32)}, str(tmp_path / "foreign.safetensors"))
    (tmp_path / "dir.npz").mkdir()
    names = [*files, "foreign.safetensors", "dir.npz", "missing.npz"]
    for name in names:
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            load(tmp_path / name)


def test_a_directory_in_place_of_a_file_is_named_as_such(tmp_path):
    (tmp_path / "step.npz").mkdir()
    with pytest.raises(CheckpointError, match=r"step\.npz: is a directory"):
        load(tmp_path / "step.npz")


def test_a_valid_checksum_over_a_malformed_state_is_still_refused(tmp_path):
    path = tmp_path / "crafted.npz"
    save_arrays(path, {"a": np.ones(2)}, {"state": {"__array__": "not-there"}})
    with pytest.raises(CheckpointError, match=r"crafted\.npz: .*malformed"):
        load(path)


class Payload:
    """Unpickling this creates a marker file: the proof that pickle ran."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("container", ["raw", "npy-in-npz", "safetensors-name"])
def test_a_pickle_payload_is_never_executed(tmp_path, container):
    Payload.marker = tmp_path / "pwned"
    name = "evil.safetensors" if container == "safetensors-name" else "evil.npz"
    if container == "npy-in-npz":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive, archive.open("w.npy", "w") as handle:
            np.lib.format.write_array(
                handle, np.array([Payload()], dtype=object), allow_pickle=True
            )
        data = buffer.getvalue()
    else:
        data = pickle.dumps(Payload())
    (tmp_path / name).write_bytes(data)
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        load(tmp_path / name)
    with pytest.raises(CheckpointError):
        load_arrays(tmp_path / name)
    assert not Payload.marker.exists()


def test_load_latest_falls_back_past_every_damaged_checkpoint_and_says_which(tmp_path, capsys):
    checkpointer = Checkpointer(tmp_path)
    for step in (10, 20, 30, 40):
        checkpointer.keep = 10
        checkpointer.save({"step": step}, step)
    newest = sorted(tmp_path.glob("step-*.npz"))
    newest[-1].write_bytes(newest[-1].read_bytes()[:50])
    newest[-2].unlink()
    newest[-2].mkdir()
    state, path = checkpointer.load_latest()
    assert state == {"step": 20} and Path(path).name == "step-000000020.npz"
    err = capsys.readouterr().err
    assert "step-000000040.npz" in err and "step-000000030.npz: is a directory" in err
    assert err.count("falling back to the previous checkpoint") == 2


def test_load_latest_with_nothing_usable_lists_every_problem(tmp_path):
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save({"step": 1}, 1)
    checkpointer.save({"step": 2}, 2)
    for path in tmp_path.glob("step-*.npz"):
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="no usable checkpoint") as info:
        checkpointer.load_latest()
    assert "step-000000001.npz" in str(info.value) and "step-000000002.npz" in str(info.value)


def test_a_temporary_file_left_by_a_killed_write_is_ignored_and_cleaned_up(tmp_path):
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save({"step": 1}, 1)
    stale = tmp_path / ".step-000000002.npz.k1ll3d.tmp"
    stale.write_bytes(b"PK\x03\x04half a checkpoint")
    assert checkpointer.load_latest()[0] == {"step": 1}
    checkpointer.save({"step": 3}, 3)
    assert not stale.exists()


def test_resuming_from_model_weights_instead_of_a_run_checkpoint_is_refused(tmp_path):
    model = nn.Linear(2, 2)
    save(model.state_dict(), tmp_path / "step-000000001.npz")
    trainer = Trainer(model, loss="mse", optimizer=optim.SGD(model.parameters()), verbose=0)
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(CheckpointError, match="not a run checkpoint"):
        trainer.fit((x, x), epochs=1, checkpoint_dir=tmp_path, resume=True)
