"""ONNX export: every exportable layer and every shipped experiment's model runs in
onnxruntime and matches chainrule within 1e-5 (relative to the output's largest entry);
onnx.checker passes; anything without a converter is refused by name."""

import inspect
from collections import OrderedDict

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.cli import main  # noqa: E402
from chainrule.errors import ArgumentTypeError  # noqa: E402
from chainrule.experiments import build_model, load_config, named_experiments  # noqa: E402
from chainrule.experiments.config import to_toml  # noqa: E402
from chainrule.onnx import export  # noqa: E402
from chainrule.onnx.convert import _CONVERTERS  # noqa: E402

rng = np.random.default_rng(0)
IMAGES = (3, 3, 8, 8)
FLAT = (3, 6)

LAYERS = {
    "Linear": (lambda: nn.Linear(6, 5), FLAT),
    "Linear-3d": (lambda: nn.Linear(8, 5, bias=False), (3, 3, 8)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1), IMAGES),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), IMAGES),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1), IMAGES),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2), IMAGES),
    "LPPool2d-p3-sum": (lambda: nn.LPPool2d(3, 2, stride=1, root_of="sum"), IMAGES),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), FLAT),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3, affine=False), IMAGES),
    "Dropout": (lambda: nn.Dropout(0.5), FLAT),
    "Identity": (nn.Identity, FLAT),
    "Flatten": (nn.Flatten, IMAGES),
    "Flatten-2": (lambda: nn.Flatten(2), IMAGES),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.Tanh())), FLAT),
    "Residual-projection": (lambda: nn.Residual(nn.Linear(6, 2), nn.Linear(6, 2)), FLAT),
    "Sequential": (lambda: nn.Sequential(OrderedDict(a=nn.Linear(6, 3), b=nn.ReLU())), FLAT),
    "ReLU": (nn.ReLU, FLAT),
    "Sigmoid": (nn.Sigmoid, FLAT),
    "Tanh": (nn.Tanh, FLAT),
    "AbsRectify": (nn.AbsRectify, FLAT),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), FLAT),
    "ELU": (lambda: nn.ELU(0.5), FLAT),
    "Softplus": (nn.Softplus, FLAT),
    "Softplus-beta": (lambda: nn.Softplus(2.5), FLAT),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 0.7), FLAT),
    "Softmax": (lambda: nn.Softmax(axis=1), IMAGES),
    "LogSoftmax": (nn.LogSoftmax, FLAT),
    "GELU": (nn.GELU, FLAT),
    "GELU-tanh": (lambda: nn.GELU("tanh"), FLAT),
    "PReLU": (lambda: nn.PReLU(3), IMAGES),
    "PReLU-shared": (nn.PReLU, FLAT),
    "Maxout": (lambda: nn.Maxout(2), (3, 4, 3)),
    "MaxoutLinear": (lambda: nn.MaxoutLinear(6, 4, 3), FLAT),
    "RBF": (lambda: nn.RBF(6, 5, sigma=2.0), FLAT),
}


def onnx_outputs(model, x, path, batch=None):
    """Export with ``x`` and run the file in onnxruntime on ``batch`` (default: x)."""
    export(model, cr.tensor(x), path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x if batch is None else batch})[0]


def relative_difference(ours, theirs):
    assert np.max(np.abs(ours)) > 0, "an all-zero output would prove nothing"
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(ours)))


def randomise(model):
    """Weights (some experiments start at zeros) and running statistics away from their start."""
    for _, p in model.named_parameters():  # some experiments start at zero weights
        fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else 0
        p.data[...] = (
            rng.normal(0, fan_in**-0.5, p.shape) if fan_in else rng.uniform(-0.5, 0.5, p.shape)
        )
    for _, buffer in model.named_buffers():
        buffer.data[...] = rng.uniform(0.5, 1.5, buffer.shape)


def test_every_shipped_layer_has_a_converter():
    shipped = {
        getattr(nn, name)
        for name in nn.__all__
        if inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name), nn.Module)
    }
    held_not_called = {nn.Module, nn.ModuleList, nn.Activation}
    losses = {cls for cls in shipped if cls.__name__.endswith("Loss")}
    assert shipped - held_not_called - losses - set(_CONVERTERS) == set()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_an_exported_layer_matches_chainrule_in_onnxruntime(tmp_path, name):
    make, shape = LAYERS[name]
    model = make()
    randomise(model)
    x = rng.standard_normal(shape).astype(np.float32)
    if name.startswith("LPPool2d-p3"):
        x = np.abs(x)  # x^3 of negatives has no real cube root, in either runtime
    batch = np.concatenate([x, x[:1] * 0.5])  # another batch size: the batch axis is dynamic
    theirs = onnx_outputs(model, x, tmp_path / "m.onnx", batch)
    ours = model.eval()(cr.tensor(batch)).numpy()
    assert theirs.shape == ours.shape
    assert relative_difference(ours, theirs) <= 1e-5


@pytest.mark.parametrize("name", named_experiments())
def test_every_shipped_experiment_model_matches_in_onnxruntime(tmp_path, name):
    config = load_config(name)
    model = build_model(config)
    randomise(model)
    x = rng.standard_normal((4, *config.data.input_shape)).astype(np.float32)
    theirs = onnx_outputs(model, x, tmp_path / f"{name}.onnx")
    ours = model.eval()(cr.tensor(x)).numpy()
    assert relative_difference(ours, theirs) <= 1e-5


def test_export_refuses_a_layer_without_a_converter_naming_it(tmp_path):
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), Mystery()))
    with pytest.raises(
        ArgumentTypeError,
        match=r"cannot export model\.1\.1 \(Mystery\) to ONNX: no converter for it; exportable layers: .*Conv2d",
    ):
        export(model, cr.zeros(1, 2), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_export_leaves_the_model_in_its_mode(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    export(model, cr.zeros(1, 2), tmp_path / "m.onnx")
    assert model.training


def test_cli_exports_a_run_directory_and_refuses_an_ensemble_naming_a_member(tmp_path, capsys):
    config = load_config("digits")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(to_toml(config))
    model = build_model(config).eval()
    cr.save(model, run_dir / "model.npz")
    assert main(["export", str(run_dir), "--format", "onnx"]) == 0
    assert "model.onnx" in capsys.readouterr().out
    x = rng.standard_normal((5, *config.data.input_shape)).astype(np.float32)
    session = ort.InferenceSession(str(run_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"input": x})[0]
    assert relative_difference(model(cr.tensor(x)).numpy(), theirs) <= 1e-5

    (run_dir / "model.npz").unlink()
    (run_dir / "members" / "0").mkdir(parents=True)
    assert main(["export", str(run_dir)]) == 2
    assert "no model.npz to export; an ensemble: export a member" in capsys.readouterr().err
