"""Choosing the device without a GPU: the default device, Module.to, and the errors that
say what is missing. (tests/test_gpu.py runs the same code on a GPU where there is one.)"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn
from chainrule.errors import ArgumentError

SRC = Path(__file__).resolve().parents[1] / "src"


def cupy_available():
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def test_the_default_device_is_the_cpu_and_new_tensors_go_there():
    assert backend.default_device() == "cpu"
    made = [cr.tensor([1.0]), cr.zeros(2), cr.ones(2), cr.randn(2), cr.rand(2), cr.arange(3)]
    made += [cr.eye(2), cr.linspace(0, 1, 3), cr.full((2,), 7.0), nn.Linear(2, 3).weight]
    assert {t.device for t in made} == {"cpu"}


def test_set_default_device_checks_the_name():
    with pytest.raises(ArgumentError, match="unknown device 'tpu'"):
        backend.set_default_device("tpu")
    backend.set_default_device("cpu")
    assert backend.default_device() == "cpu"


@pytest.mark.skipif(cupy_available(), reason="CuPy is installed here")
def test_cuda_without_cupy_says_how_to_install_it():
    with pytest.raises(ArgumentError, match="pip install cupy"):
        backend.set_default_device("cuda")
    with pytest.raises(ArgumentError, match="pip install cupy"):
        nn.Linear(2, 2).to("cuda")
    assert backend.default_device() == "cpu"


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_chainrule_device_is_read_from_the_environment_at_import():
    done = run_python(
        "import chainrule; print(chainrule.backend.default_device())", CHAINRULE_DEVICE="cpu"
    )
    assert done.returncode == 0 and done.stdout.strip() == "cpu"
    done = run_python("import chainrule", CHAINRULE_DEVICE="gpu0")
    assert done.returncode != 0
    assert "CHAINRULE_DEVICE='gpu0'" in done.stderr and "expected 'cpu' or 'cuda'" in done.stderr


def test_module_to_cpu_keeps_the_parameters_and_their_values():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params = list(model.parameters())
    before = model.state_dict()
    assert model.to("cpu") is model
    assert list(model.parameters()) == params
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(ArgumentError, match="unknown device"):
        model.to("gpu")


def test_indexing_with_host_index_arrays_keeps_its_gradient():
    x = cr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [0, 0], [1, 1]])
    assert x[np.int64(1)].shape == (2,)
