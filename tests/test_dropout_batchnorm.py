"""Dropout and batch normalisation: training vs evaluation, statistics, gradients, state."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

rng = np.random.default_rng(5)


# ------------------------------------------------------------------ dropout


def test_dropout_is_identity_in_eval_and_at_p_zero():
    x = cr.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    layer = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_dropout_zeroes_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p():
    x = cr.ones(200, 500)
    y = F.dropout(x, 0.3).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 100,000 draws: std of the fraction ~0.0015


def test_dropout_preserves_the_mean_in_expectation():
    x = cr.tensor(rng.uniform(1.0, 3.0, (400, 500)))
    for p in (0.2, 0.5, 0.8):
        assert F.dropout(x, p).numpy().mean() == pytest.approx(x.numpy().mean(), rel=0.01)


def test_dropout_is_reproducible_under_manual_seed():
    x = cr.randn(8, 8)
    cr.manual_seed(42)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    cr.manual_seed(42)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)
    c = F.dropout(x, 0.5, generator=cr.backend.new_generator(1)).numpy()
    np.testing.assert_array_equal(F.dropout(x, 0.5, generator=cr.backend.new_generator(1)), c)


def test_dropout_gradient_is_the_same_scaled_mask():
    x = cr.randn(6, 7, requires_grad=True)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    mask = (y.numpy() != 0) / 0.6
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-6)
    cr.gradcheck(
        lambda t: F.dropout(t, 0.4, generator=cr.backend.new_generator(3)),
        [rng.normal(size=(4, 5))],
    )


def test_dropout_layer_follows_train_and_eval():
    layer = nn.Dropout(0.5)
    x = cr.ones(10, 10)
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    assert (layer(x).numpy() == 0).any()
    assert repr(layer) == "Dropout(p=0.5)"


def test_dropout_keeps_float32_and_float64():
    assert F.dropout(cr.randn(3, 3), 0.5).dtype == cr.float32
    assert F.dropout(cr.randn(3, 3, dtype="float64"), 0.5).dtype == cr.float64


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_p_outside_zero_one_at_construction(p):
    with pytest.raises(ArgumentError, match=rf"Dropout: p must be in \[0, 1\).*got p={p}"):
        nn.Dropout(p)
    with pytest.raises(ArgumentError, match=rf"got p={p}"):
        F.dropout(cr.ones(2), p, training=False)


def test_dropout_argument_type_errors():
    with pytest.raises(ArgumentTypeError, match="p must be a number"):
        nn.Dropout("0.5")
    with pytest.raises(DTypeError, match="int64"):
        F.dropout(cr.tensor([1, 2, 3]), 0.5)


# --------------------------------------------------------------- batch norm


def stats(n=4):
    return cr.zeros(n, dtype="float64"), cr.ones(n, dtype="float64")


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (3, 4, 2, 3)], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradient_for_input_weight_and_bias(shape, training):
    x = rng.normal(1.0, 2.0, shape)
    weight, bias = rng.normal(1.0, 0.3, 4), rng.normal(0.0, 0.3, 4)
    running_mean, running_var = cr.tensor(rng.normal(size=4)), cr.tensor(rng.uniform(0.5, 2, 4))

    def fn(x, w, b):
        return F.batch_norm(x, running_mean, running_var, w, b, training=training)

    cr.gradcheck(fn, [x, weight, bias])


def test_batch_norm_without_affine_parameters_gradient():
    cr.gradcheck(
        lambda x: F.batch_norm(x, *stats(3), training=True), [rng.normal(size=(5, 3, 2, 2))]
    )


def test_batch_norm_in_training_gives_zero_mean_unit_variance_per_channel():
    x = cr.tensor(rng.normal(3.0, 5.0, (16, 4, 3, 3)))
    y = nn.BatchNorm2d(4)(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), np.zeros(4), atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), np.ones(4), atol=1e-3)
    y1 = nn.BatchNorm1d(4)(cr.tensor(rng.normal(-2.0, 0.1, (32, 4)))).numpy()
    np.testing.assert_allclose(y1.mean(axis=0), np.zeros(4), atol=1e-5)
    np.testing.assert_allclose(y1.var(axis=0), np.ones(4), atol=2e-3)


def test_batch_norm_running_stats_move_by_momentum_with_unbiased_variance():
    layer = nn.BatchNorm1d(3, momentum=0.2)
    x = rng.normal(2.0, 3.0, (10, 3))
    layer(cr.tensor(x))
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.2 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        layer.running_var.numpy(), 0.8 + 0.2 * x.var(axis=0, ddof=1), rtol=1e-5
    )
    before = layer.running_mean.numpy().copy()
    layer(cr.tensor(x))
    np.testing.assert_allclose(
        layer.running_mean.numpy(), 0.8 * before + 0.2 * x.mean(axis=0), rtol=1e-5
    )


def test_batch_norm_in_eval_uses_running_stats_and_leaves_them_alone():
    layer = nn.BatchNorm2d(2)
    layer.running_mean.data[:] = [1.0, -1.0]
    layer.running_var.data[:] = [4.0, 0.25]
    layer.weight.data[:] = [2.0, 1.0]
    layer.bias.data[:] = [0.5, 0.0]
    layer.eval()
    x = rng.normal(size=(3, 2, 2, 2))
    y = layer(cr.tensor(x)).numpy()
    mean = np.array([1.0, -1.0])[:, None, None]
    std = np.sqrt(np.array([4.0, 0.25]) + 1e-5)[:, None, None]
    expected = (x - mean) / std * np.array([2.0, 1.0])[:, None, None] + np.array([0.5, 0])[
        :, None, None
    ]
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    np.testing.assert_array_equal(layer.running_mean.numpy(), [1.0, -1.0])
    one = layer(cr.tensor(x[:1, :, :1, :1]))  # one value per channel is fine in eval
    assert one.shape == (1, 2, 1, 1)


def assert_parameter_gradients_match_finite_differences(module, x, eps=1e-6):
    """Every parameter's .grad from backward against central differences (module in float64)."""
    weight = np.random.default_rng(0).standard_normal(module(x).shape)
    module.zero_grad()
    module(x).backward(weight)
    for name, p in module.named_parameters():
        flat = p.data.reshape(-1)
        numeric = np.empty(flat.size)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = (module(x).numpy() * weight).sum()
            flat[j] = original - eps
            minus = (module(x).numpy() * weight).sum()
            flat[j] = original
            numeric[j] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(
            p.grad.numpy().reshape(-1), numeric, rtol=1e-5, atol=1e-7, err_msg=name
        )


def test_batch_norm_layer_parameter_gradients_in_training_mode():
    layer = nn.BatchNorm2d(3, dtype="float64")
    layer.weight.data[:] = [0.5, 1.5, -1.0]
    layer.bias.data[:] = [0.1, 0.2, 0.3]
    x = cr.tensor(rng.normal(size=(4, 3, 2, 2)), dtype="float64")
    assert layer.training
    assert_parameter_gradients_match_finite_differences(layer, x)


def test_batch_norm_state_dict_holds_running_stats():
    layer = nn.BatchNorm1d(3)
    layer(cr.tensor(rng.normal(size=(8, 3))))
    state = layer.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var"]
    fresh = nn.BatchNorm1d(3)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.running_var.numpy(), layer.running_var.numpy())
    bare = nn.BatchNorm2d(3, affine=False)
    assert bare.num_parameters() == 0
    assert list(bare.state_dict()) == ["running_mean", "running_var"]


def test_batch_norm_layers_check_shapes_and_arguments():
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\) got input of shape \(4, 3\).*H, W"):
        nn.BatchNorm2d(3)(cr.randn(4, 3))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\) got input of shape \(4, 5\)"):
        nn.BatchNorm1d(3)(cr.randn(4, 5))
    with pytest.raises(ShapeError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(cr.randn(1, 3))
    with pytest.raises(ArgumentError, match=r"momentum=1\.5"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ArgumentError, match="eps"):
        nn.BatchNorm2d(3, eps=0.0)
    with pytest.raises(ShapeError, match=r"running_var of shape \(4,\).*expected \(3,\)"):
        F.batch_norm(cr.randn(5, 3), cr.zeros(3), cr.ones(4), training=True)
    with pytest.raises(ArgumentError, match="eval mode"):
        F.batch_norm(cr.randn(5, 3), None, None, training=False)


def test_batch_norm_keeps_float32():
    x = cr.randn(6, 3, 2, 2, requires_grad=True)
    layer = nn.BatchNorm2d(3)
    y = layer(x)
    assert y.dtype == cr.float32
    y.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == cr.float32


def test_torch_agrees_on_batch_norm_training_step_and_eval():
    torch = pytest.importorskip("torch")
    x = rng.normal(1.0, 2.0, (5, 3, 4, 4))
    upstream = rng.normal(size=x.shape)
    ours = nn.BatchNorm2d(3, momentum=0.3, dtype="float64")
    theirs = torch.nn.BatchNorm2d(3, momentum=0.3, dtype=torch.float64)
    a, b = cr.tensor(x, dtype="float64", requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(a), theirs(b)
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-10, atol=1e-12)
    ya.backward(upstream)
    yb.backward(torch.tensor(upstream))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(
        ours(cr.tensor(x, dtype="float64")).numpy(),
        theirs(torch.tensor(x)).detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )
