"""How closely onnxruntime reproduces chainrule on exported models (needs the onnx extra).

    python benchmarks/onnx_match.py

For every named experiment's model (built as ``chainrule train`` builds it, seeded,
untrained, its weights drawn at random with variance 1/fan-in, since some experiments
start from zeros, and batch-norm running statistics drawn away from their 0/1 start) and for
one model holding every exportable layer, exports with ``chainrule.onnx.export``, runs
the file in onnxruntime on 64 random inputs, and records the largest absolute
difference and that difference relative to the largest output. Writes
benchmarks/results/onnx_match.json and the README table between the ``onnx:begin`` /
``onnx:end`` markers.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

import chainrule as cr
from _readme import replace_between
from chainrule import nn
from chainrule.experiments import build_model, load_config, named_experiments
from chainrule.train.serialization import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "onnx_match.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- onnx:begin -->", "<!-- onnx:end -->"


def every_layer() -> tuple[nn.Module, tuple[int, ...]]:
    """One model through every exportable layer type, for (1, 12, 12) inputs."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.PReLU(4),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.LPPool2d(2, 2, stride=1),
        nn.AvgPool2d(2, padding=1),
        nn.ELU(),
        nn.Softmax(axis=1),
        nn.Flatten(),
        nn.Residual(nn.Sequential(nn.Linear(36, 36), nn.GELU(), nn.Dropout(0.5))),
        nn.Residual(nn.Sequential(nn.Linear(36, 32), nn.Tanh()), projection=nn.Linear(36, 32)),
        nn.BatchNorm1d(32),
        nn.MaxoutLinear(32, 24, 3),
        nn.Softplus(2.0),
        nn.LeakyReLU(0.1),
        nn.Hardtanh(-2, 2),
        nn.Sigmoid(),
        nn.RBF(24, 16),
        nn.Maxout(2),
        nn.AbsRectify(),
        nn.GELU("tanh"),
        nn.ReLU(),
        nn.Identity(),
        nn.Linear(8, 10),
        nn.LogSoftmax(),
    )
    return model, (1, 12, 12)


def measure(model: nn.Module, input_shape: tuple[int, ...], directory: Path) -> dict[str, float]:
    rng = np.random.default_rng(0)
    for _, p in model.named_parameters():  # some experiments start at zero weights
        fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else 0
        p.data[...] = (
            rng.normal(0, fan_in**-0.5, p.shape) if fan_in else rng.uniform(-0.5, 0.5, p.shape)
        )
    for _, buffer in model.named_buffers():
        buffer.data[...] = rng.uniform(0.5, 1.5, buffer.shape)
    x = rng.standard_normal((64, *input_shape)).astype(np.float32)
    path = directory / "model.onnx"
    cr.onnx.export(model, cr.tensor(x[:1]), path)
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    ours = model.eval()(cr.tensor(x)).numpy()
    difference = float(np.max(np.abs(ours - theirs)))
    return {"max_abs_difference": difference, "relative": difference / float(np.max(np.abs(ours)))}


def table(result: dict) -> str:
    """The README table, from the results alone."""
    lines = ["| model | max abs difference | relative to largest output |", "|---|---|---|"]
    lines += [
        f"| {name} | {r['max_abs_difference']:.2e} | {r['relative']:.2e} |"
        for name, r in result["models"].items()
    ]
    return "\n".join(lines)


def main() -> None:
    import chainrule.onnx  # noqa: F401  (cr.onnx)

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in named_experiments():
            cr.manual_seed(0)
            config = load_config(name)
            rows[name] = measure(build_model(config), config.data.input_shape, Path(tmp))
        cr.manual_seed(0)
        rows["every-layer"] = measure(*every_layer(), Path(tmp))
    result = {"onnxruntime": ort.__version__, "inputs": 64, "dtype": "float32", "models": rows}
    atomic_write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    replace_between(README, BEGIN, END, table(result))
    print(table(result))


if __name__ == "__main__":
    main()
