"""Weights cross to PyTorch and back through safetensors: the same architecture in both
libraries gives the same outputs after each crossing."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import CheckpointError
from chainrule.train import load_torch_weights, save_torch_weights

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch")
safetensors_torch = pytest.importorskip("safetensors.torch", reason="the io extra is not installed")


def twins():
    """One CNN in both libraries, with the same attribute names."""
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.PReLU(4),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.BatchNorm1d(16),
        nn.GELU(),
        nn.Linear(16, 10),
    )
    tn = torch.nn
    theirs = tn.Sequential(
        tn.Conv2d(1, 4, 3, padding=1),
        tn.BatchNorm2d(4),
        tn.PReLU(4),
        tn.MaxPool2d(2),
        tn.Flatten(),
        tn.Linear(64, 16),
        tn.BatchNorm1d(16),
        tn.GELU(),
        tn.Linear(16, 10),
    )
    return ours, theirs


def outputs(ours, theirs, x):
    ours.eval(), theirs.eval()
    with torch.no_grad():
        return ours(cr.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy()


def test_chainrule_weights_load_into_pytorch_and_give_the_same_outputs(tmp_path):
    ours, theirs = twins()
    for _, b in ours.named_buffers():
        b.data[...] = np.random.default_rng(1).uniform(0.5, 1.5, b.shape)
    save_torch_weights(ours, tmp_path / "w.safetensors")
    theirs.load_state_dict(safetensors_torch.load_file(tmp_path / "w.safetensors"))  # strict
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    a, b = outputs(ours, theirs, x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_pytorch_weights_load_into_chainrule_and_give_the_same_outputs(tmp_path):
    ours, theirs = twins()
    theirs.train()
    with torch.no_grad():
        theirs(torch.randn(32, 1, 8, 8))  # running statistics PyTorch's own
    safetensors_torch.save_file(theirs.state_dict(), tmp_path / "w.safetensors")
    load_torch_weights(ours, tmp_path / "w.safetensors")
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    a, b = outputs(ours, theirs, x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    # and back again: PyTorch gets bitwise its own weights
    save_torch_weights(ours, tmp_path / "back.safetensors")
    back = safetensors_torch.load_file(tmp_path / "back.safetensors")
    for name, value in theirs.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(back[name], value), name


def test_load_torch_weights_refuses_names_that_do_not_fit_naming_the_file(tmp_path):
    ours, _ = twins()
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file({"0.weight": torch.zeros(4, 2, 3, 3)}, path)
    with pytest.raises(CheckpointError, match=f"{path}: .*missing keys.*shape mismatch: 0.weight"):
        load_torch_weights(ours, path)
    path.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match=f"{path}: not a readable safetensors file"):
        load_torch_weights(ours, path)
