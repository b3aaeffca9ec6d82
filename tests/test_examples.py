"""The README's main job works: the XOR script drives the loss down."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_xor_example_fits_the_four_points(capsys):
    spec = importlib.util.spec_from_file_location("xor_example", EXAMPLES / "xor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    final_loss = module.main(steps=1000)
    assert final_loss < 1e-3
    printed = capsys.readouterr().out
    assert "step     0" in printed and "XOR outputs" in printed


def test_digits_example_trains_an_mlp_past_95_percent(capsys):
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLES / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    test = module.main(epochs=30)
    assert test["accuracy"] > 0.95
    assert "test accuracy" in capsys.readouterr().out
