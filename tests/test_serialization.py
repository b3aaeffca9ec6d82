"""Files are written atomically, carry a checksum, and are never unpickled."""

import io
import zipfile

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import CheckpointError
from chainrule.train import load, save
from chainrule.train.serialization import load_arrays, save_arrays


def test_state_dict_round_trips_through_npz(tmp_path):
    model = nn.Linear(4, 3)
    save(model.state_dict(), tmp_path / "m.npz")
    fresh = nn.Linear(4, 3)
    fresh.load_state_dict(load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(fresh.weight.numpy(), model.weight.numpy())


def test_nested_state_with_numbers_strings_and_arrays_round_trips(tmp_path):
    state = {"epoch": 3, "name": "run", "lr": [0.1, 0.01], "inner": {0: np.arange(3), "none": None}}
    save(state, tmp_path / "s.npz")
    back = load(tmp_path / "s.npz")
    assert back["epoch"] == 3 and back["name"] == "run" and back["lr"] == [0.1, 0.01]
    np.testing.assert_array_equal(back["inner"][0], np.arange(3))
    assert back["inner"]["none"] is None


def test_safetensors_files_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    arrays = {"w": np.ones((2, 3), np.float32)}
    save_arrays(tmp_path / "m.safetensors", arrays, {"k": 1})
    back, meta = load_arrays(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back["w"], arrays["w"])
    assert meta == {"k": 1}


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_a_damaged_file_is_rejected_naming_the_file(tmp_path, damage):
    path = tmp_path / "m.npz"
    save({"w": np.arange(1000, dtype=np.float32)}, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="m.npz"):
        load(path)


def test_a_file_carrying_a_pickle_payload_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("w.npy", "w") as handle:
            np.lib.format.write_array(handle, np.array([Evil()], dtype=object), allow_pickle=True)
    (tmp_path / "evil.npz").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="evil.npz"):
        load(tmp_path / "evil.npz")


def test_saving_object_arrays_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="pickle"):
        save_arrays(tmp_path / "x.npz", {"o": np.array([object()], dtype=object)})


def test_saved_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    import os

    save({"w": np.zeros(2)}, tmp_path / "m.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o666 & ~umask
