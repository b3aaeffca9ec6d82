"""Conventions a PyTorch user expects: Module.to(dtype), .double(), .float(), and
LPPool2d's root_of="sum" (PyTorch's) beside the lecture's root of the mean."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ArgumentError, DTypeError


def small_model():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.GELU(), nn.Linear(4, 2))


def test_double_casts_every_parameter_and_buffer_and_keeps_the_objects():
    model = small_model()
    weight = model[0].weight
    x = np.random.default_rng(1).standard_normal((5, 3))
    model(cr.tensor(x)).sum().backward()
    assert model.double() is model
    assert model[0].weight is weight
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert tensor.dtype == np.float64, name
    assert weight.grad.dtype == np.float64
    y = model(cr.tensor(x, dtype="float64"))
    assert y.dtype == np.float64


def test_float_and_to_float32_cast_back_without_changing_values_representable_in_float32():
    model = small_model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.to(cr.float64).float()
    for name, value in model.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, before[name])


def test_to_refuses_a_dtype_that_is_not_floating():
    with pytest.raises(
        DTypeError, match=r"expected a device \('cpu', 'cuda'\) or a floating dtype.*got 'int32'"
    ):
        small_model().to("int32")


def test_to_cpu_still_moves_devices():
    model = small_model()
    assert model.to("cpu") is model
    assert model[0].weight.device == "cpu"


def test_lppool_root_of_sum_is_k_to_the_one_over_p_times_the_root_of_the_mean():
    x = cr.tensor(np.random.default_rng(2).uniform(0.1, 2, (2, 3, 4, 4)), dtype="float64")
    mean = nn.LPPool2d(3, 2)(x).numpy()
    total = nn.LPPool2d(3, 2, root_of="sum")(x).numpy()
    windows = x.numpy().reshape(2, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    by_hand = (windows**3).sum(axis=(-2, -1)) ** (1 / 3)
    np.testing.assert_allclose(total, by_hand, rtol=1e-12)
    np.testing.assert_allclose(total, mean * 4 ** (1 / 3), rtol=1e-12)


def test_lppool_root_of_sum_matches_pytorch():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    x = np.random.default_rng(3).uniform(0.1, 2, (2, 3, 6, 6))
    ours = nn.LPPool2d(2, 3, root_of="sum")(cr.tensor(x, dtype="float64")).numpy()
    theirs = torch.nn.LPPool2d(2, 3)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_lppool_refuses_an_unknown_root():
    with pytest.raises(ArgumentError, match="root_of must be 'mean'.*or 'sum'.*got root_of='max'"):
        nn.LPPool2d(2, 2, root_of="max")
