"""Whole models in one file: chainrule.save / chainrule.load keep architecture and weights,
give bitwise the same outputs, and refuse damaged or hostile files naming them."""

import inspect
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ArgumentTypeError, CheckpointError
from chainrule.experiments import load_config, run_experiment
from chainrule.train import load as load_state
from chainrule.train import save as save_state
from chainrule.train.serialization import save_arrays
from test_op_layer_table import SHAPED_LAYERS

rng = np.random.default_rng(0)
IMAGES = (2, 3, 6, 6)
FLAT = (4, 6)

# Every shipped layer: the rows of the one table (how to make it, an input shape).
LAYERS = SHAPED_LAYERS
NOT_LAYERS = {"Module", "Parameter", "ModuleList", "Activation"}  # bases; ModuleList is held


def shipped_module_classes():
    return {
        name
        for name in nn.__all__
        if inspect.isclass(getattr(nn, name))
        and issubclass(getattr(nn, name), nn.Module)
        and not name.endswith("Loss")
    }


def test_every_shipped_layer_is_in_the_table():
    assert shipped_module_classes() - NOT_LAYERS == set(LAYERS)


def randomise(model):
    """Weights and running statistics that no fresh build could reproduce."""
    for _, tensor in [*model.named_parameters(), *model.named_buffers()]:
        tensor.data[...] = rng.uniform(0.5, 1.5, tensor.shape)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_saved_layer_loads_with_the_same_settings_and_bitwise_outputs(tmp_path, name, suffix):
    make, shape = LAYERS[name]
    model = make().eval()
    randomise(model)
    path = tmp_path / f"model{suffix}"
    cr.save(model, path)
    loaded = cr.load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    assert not loaded.training
    x = rng.standard_normal(shape)
    x = cr.tensor(np.abs(x) if name == "LPPool2d" else x)  # x^3 of negatives has no real root
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_a_deep_composition_round_trips_in_float64_and_keeps_the_mode(tmp_path):
    blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])

    class Twice(nn.Module):
        def __init__(self, blocks):
            super().__init__()
            self.blocks = blocks

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    nn.register_module(Twice)  # its child is its constructor's argument: no config needed
    model = nn.Sequential(
        nn.Residual(nn.Sequential(Twice(blocks), nn.ReLU())),
        nn.Sequential(nn.BatchNorm1d(4), nn.Dropout(0.5)),
        nn.Linear(4, 3),
    ).double()
    randomise(model)
    cr.save(model, tmp_path / "deep.npz")
    loaded = cr.load(tmp_path / "deep.npz")
    assert loaded.training
    assert {p.dtype for p in loaded.parameters()} == {np.dtype("float64")}
    loaded.eval(), model.eval()
    x = cr.tensor(rng.standard_normal((5, 4)), dtype="float64")
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_a_custom_module_registers_its_settings(tmp_path):
    class Scale(nn.Module):
        def __init__(self, factor: float):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    nn.register_module(Scale, lambda m: {"factor": m.factor}, name="test.Scale")
    cr.save(nn.Sequential(nn.Linear(2, 2), Scale(3.0)), tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert loaded[1].factor == 3.0


def test_save_refuses_an_unregistered_module_naming_where_it_is(tmp_path):
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(
        ArgumentTypeError, match=r"cannot describe model\.1 \(.*Mystery\).*register_module"
    ):
        cr.save(nn.Sequential(nn.ReLU(), Mystery()), tmp_path / "m.npz")


def test_save_refuses_a_shared_layer(tmp_path):
    layer = nn.Linear(2, 2)
    with pytest.raises(ArgumentTypeError, match=r"model\.1 is a module used in two places"):
        cr.save(nn.Sequential(layer, layer), tmp_path / "m.npz")


def test_load_leaves_the_random_stream_where_it_was(tmp_path):
    cr.save(nn.Linear(30, 30), tmp_path / "m.npz")
    cr.manual_seed(5)
    expected = cr.rand(3).numpy()
    cr.manual_seed(5)
    cr.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(cr.rand(3).numpy(), expected)


# ------------------------------------------------------------ refusing files
def forged(tmp_path, architecture, arrays, name="forged.npz"):
    """A file with a valid checksum, as an attacker who knows the format would write."""
    path = tmp_path / name
    save_arrays(path, arrays, {"format": "chainrule.model/1", "architecture": architecture})
    return path


def linear(config, children=None):
    return {"type": "Linear", "config": config, "children": children or {}}


def test_load_refuses_a_truncated_or_corrupted_file_naming_it(tmp_path):
    path = tmp_path / "m.npz"
    cr.save(nn.Linear(20, 20), path)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError, match=f"{path}: not a readable chainrule file"):
        cr.load(path)
    cr.save(nn.Linear(20, 20), path)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        cr.load(path)


def test_load_refuses_a_pickle_naming_the_file(tmp_path):
    path = tmp_path / "evil.npz"
    path.write_bytes(b"\x80\x04\x95cos\nsystem\n")
    with pytest.raises(CheckpointError, match=f"{path}: not a chainrule file: not an .npz archive"):
        cr.load(path)


def test_load_refuses_a_weights_only_file_and_says_how_to_read_it(tmp_path):
    path = tmp_path / "weights.npz"
    save_state(nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(
        CheckpointError, match=f"{path}: not a chainrule model file.*chainrule.train.load"
    ):
        cr.load(path)


def test_load_refuses_a_type_it_does_not_know_and_builds_nothing_from_names(tmp_path):
    path = forged(tmp_path, {"type": "os.system", "config": {}, "children": {}}, {})
    with pytest.raises(
        CheckpointError, match=f"{path}: a malformed model: model: unknown module type 'os.system'"
    ):
        cr.load(path)


def test_load_refuses_sizes_its_weights_do_not_bear_out_before_allocating(tmp_path):
    huge = linear({"in_features": 10**6, "out_features": 10**6, "bias": False})
    path = forged(tmp_path, huge, {"weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(
        CheckpointError,
        match=r"model \(Linear\) declares weight of shape \(1000000, 1000000\), but the file holds shape \(2, 2\)",
    ):
        cr.load(path)


def test_load_refuses_bad_settings_naming_the_layer(tmp_path):
    arch = {
        "type": "Sequential",
        "config": {},
        "children": {"0": {"type": "Dropout", "config": {"p": 2}, "children": {}}},
    }
    path = forged(tmp_path, arch, {})
    with pytest.raises(CheckpointError, match=r"model\.0 \(Dropout\): cannot build it"):
        cr.load(path)
    arch = linear({"in_features": 2, "out_features": 2, "bias": False, "evil": 1})
    path = forged(tmp_path, arch, {"weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(CheckpointError, match=r"model \(Linear\): cannot build it.*evil"):
        cr.load(path)


def test_load_refuses_weights_that_do_not_fit_naming_them(tmp_path):
    arch = linear({"in_features": 2, "out_features": 2, "bias": False})
    path = forged(tmp_path, arch, {"weight": np.zeros((2, 2), np.int64)})
    with pytest.raises(
        CheckpointError, match=r"weights do not fit its architecture: weight: dtype int64"
    ):
        cr.load(path)
    path = forged(tmp_path, arch, {"weight": np.zeros((2, 2), np.float32), "extra": np.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected extra"):
        cr.load(path)


def test_load_refuses_nesting_deeper_than_it_recurses(tmp_path):
    arch = {"type": "Identity", "config": {}, "children": {}}
    for _ in range(100):
        arch = {"type": "Sequential", "config": {}, "children": {"0": arch}}
    path = forged(tmp_path, arch, {})
    with pytest.raises(CheckpointError, match="nested more than 64 modules deep"):
        cr.load(path)


# ---------------------------------------------------------------- runs
def test_every_train_run_directory_holds_a_model_that_loads_alone(tmp_path, monkeypatch):
    monkeypatch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
    run_experiment(load_config("digits"), tmp_path / "run", epochs=1, verbose=0)
    model = cr.load(tmp_path / "run" / "model.npz")
    assert not model.training
    best = load_state(tmp_path / "run" / "checkpoints" / "best.npz")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, best[name])
    architecture = json.dumps(repr(model))
    assert "Linear" in architecture
