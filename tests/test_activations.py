"""Activations: gradients, hand-computed values, stability, dtypes, errors, and the layers."""

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError

rng = np.random.default_rng(7)


def away_from_kinks(*shape, kinks=(0.0,), clearance=0.2):
    """Normal draws pushed at least ``clearance`` away from every kink."""
    x = rng.standard_normal(shape) * 1.5
    for k in kinks:
        near = np.abs(x - k) < clearance
        x = np.where(near, k + np.sign(x - k + 1e-12) * clearance * 2, x)
    return x


def normal(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)).astype(float)


ELEMENTWISE = {
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), away_from_kinks),
    "leaky_relu_default": (F.leaky_relu, away_from_kinks),
    "elu": (F.elu, away_from_kinks),
    "elu_alpha": (lambda x: F.elu(x, 0.5), away_from_kinks),
    "softplus": (F.softplus, normal),
    "softplus_beta": (lambda x: F.softplus(x, 2.5), normal),
    "hardtanh": (F.hardtanh, lambda *s: away_from_kinks(*s, kinks=(-1.0, 1.0))),
    "hardtanh_range": (
        lambda x: F.hardtanh(x, -0.5, 2.0),
        lambda *s: away_from_kinks(*s, kinks=(-0.5, 2.0)),
    ),
    "abs_rectify": (F.abs_rectify, away_from_kinks),
    "gelu": (F.gelu, normal),
    "gelu_tails": (F.gelu, lambda *s: normal(*s) * 4),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), normal),
    "softmax_last": (F.softmax, normal),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), normal),
    "log_softmax_last": (F.log_softmax, normal),
    "log_softmax_axis0": (lambda x: F.log_softmax(x, axis=0), normal),
}


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_activation_gradient_matches_finite_differences(name, shape):
    fn, sample = ELEMENTWISE[name]
    cr.gradcheck(fn, [sample(*shape)])


@pytest.mark.parametrize(
    ("x_shape", "alpha_shape"),
    [((5,), (1,)), ((4, 3), (1,)), ((4, 3), (3,)), ((2, 3, 2, 2), (3,)), ((2, 3, 4), (3,))],
    ids=str,
)
def test_prelu_gradient_for_input_and_slopes(x_shape, alpha_shape):
    alpha = rng.uniform(0.1, 0.5, alpha_shape)
    cr.gradcheck(F.prelu, [away_from_kinks(*x_shape), alpha])


@pytest.mark.parametrize("sigma_shape", [None, (), (4,)], ids=str)
def test_rbf_gradient_for_input_centres_and_width(sigma_shape):
    x, w = normal(5, 3), normal(4, 3)
    if sigma_shape is None:
        cr.gradcheck(lambda x, w: F.rbf(x, w, 1.7), [x, w])
    else:
        sigma = rng.uniform(1.0, 2.0, sigma_shape)
        cr.gradcheck(F.rbf, [x, w, sigma])


@pytest.mark.parametrize(
    ("shape", "num_pieces", "axis"),
    [((4, 6), 3, 1), ((4, 6), 2, -1), ((2, 4, 3, 3), 2, 1), ((6, 2), 3, 0)],
    ids=str,
)
def test_maxout_gradient_matches_finite_differences(shape, num_pieces, axis):
    cr.gradcheck(lambda x: F.maxout(x, num_pieces, axis), [distinct(*shape)])


# ------------------------------------------------------------- known values


def test_softmax_of_one_two_three():
    y = F.softmax(cr.tensor([1.0, 2.0, 3.0], dtype="float64"))
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y.numpy(), e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(y.numpy(), [0.09003057, 0.24472847, 0.66524096], atol=1e-8)


def test_log_softmax_is_log_of_softmax_and_rows_sum_to_one():
    x = cr.tensor(normal(4, 5), dtype="float64")
    np.testing.assert_allclose(F.log_softmax(x).numpy(), np.log(F.softmax(x).numpy()))
    np.testing.assert_allclose(F.softmax(x, axis=1).numpy().sum(axis=1), np.ones(4))
    np.testing.assert_allclose(F.softmax(x, axis=0).numpy().sum(axis=0), np.ones(5))


def test_rectifier_values_by_hand():
    x = cr.tensor([-2.0, 0.0, 3.0], dtype="float64")
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).numpy(), [-0.2, 0.0, 3.0])
    np.testing.assert_allclose(F.elu(x).numpy(), [math.exp(-2) - 1, 0.0, 3.0])
    np.testing.assert_allclose(F.hardtanh(x).numpy(), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.abs_rectify(x).numpy(), [2.0, 0.0, 3.0])
    np.testing.assert_allclose(F.prelu(x, cr.tensor([0.25])).numpy(), [-0.5, 0.0, 3.0])


def test_smooth_activation_values_by_hand():
    x = cr.tensor([0.0, 1.0], dtype="float64")
    np.testing.assert_allclose(F.softplus(x).numpy(), [math.log(2), math.log1p(math.e)])
    np.testing.assert_allclose(F.softplus(x, beta=2).numpy()[1], math.log1p(math.e**2) / 2)
    tanh_gelu_1 = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").numpy(), [0.0, tanh_gelu_1])
    np.testing.assert_allclose(F.gelu(x).numpy(), [0.0, 0.5 * (1 + math.erf(math.sqrt(0.5)))])


def test_gelu_defaults_to_the_exact_erf_form_as_pytorch_does():
    x = np.concatenate([np.linspace(-40, 40, 4001), [-1e-8, 1e-8]])
    exact = 0.5 * x * np.array([math.erfc(-v / math.sqrt(2)) for v in x])
    ours = F.gelu(cr.tensor(x, dtype="float64")).numpy()
    # rtol: in the far tail erfc is so steep that rounding x / sqrt(2) alone moves it ~1e-13
    np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-300)
    assert nn.GELU().approximate == "none"


def test_gelu_tanh_is_within_5e4_of_the_exact_erf_form():
    x = np.linspace(-6, 6, 1201)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    tanh = F.gelu(cr.tensor(x, dtype="float64"), approximate="tanh").numpy()
    assert np.max(np.abs(tanh - exact)) < 5e-4


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(
        ArgumentError, match="approximate must be 'none' or 'tanh'; got approximate='erf'"
    ):
        nn.GELU(approximate="erf")


def test_rbf_is_one_at_the_centre_and_exp_minus_d2_over_sigma2_away():
    x = cr.tensor([[0.0, 0.0], [1.0, 1.0]], dtype="float64")
    w = cr.tensor([[1.0, 1.0], [0.0, 0.0], [3.0, 0.0]], dtype="float64")
    y = F.rbf(x, w, 2.0).numpy()
    assert y.shape == (2, 3)
    expected = np.exp(-np.array([[2.0, 0.0, 9.0], [0.0, 2.0, 5.0]]) / 4.0)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    per_unit = F.rbf(x, w, cr.tensor([1.0, 2.0, 3.0], dtype="float64")).numpy()
    np.testing.assert_allclose(per_unit[0], np.exp(-np.array([2.0, 0.0, 9.0]) / [1, 4, 9]))


def test_maxout_takes_the_max_of_consecutive_groups():
    x = cr.tensor([[1.0, 5.0, 2.0, -1.0, 0.0, -3.0]])
    np.testing.assert_array_equal(F.maxout(x, 2).numpy(), [[5.0, 2.0, 0.0]])
    np.testing.assert_array_equal(F.maxout(x, 3).numpy(), [[5.0, 0.0]])


def test_maxout_of_feature_maps_groups_channels():
    x = cr.tensor(distinct(2, 4, 3, 3))
    y = F.maxout(x, 2)
    assert y.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(y.numpy()[:, 1], np.maximum(x.numpy()[:, 2], x.numpy()[:, 3]))


# ---------------------------------------------------------------- stability


def test_softmax_and_log_softmax_of_huge_logits_are_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = cr.tensor([1000.0, 1001.0], requires_grad=True)
        y = F.softmax(x)
        np.testing.assert_allclose(y.numpy(), [1 / (1 + math.e), math.e / (1 + math.e)], rtol=1e-6)
        log_y = F.log_softmax(cr.tensor([1000.0, 1001.0]))
        np.testing.assert_allclose(log_y.numpy(), [-1.3132617, -0.3132617], rtol=1e-6)
        (y * cr.tensor([1.0, 0.0])).sum().backward()
        assert np.all(np.isfinite(x.grad.numpy()))


def test_softplus_and_elu_stay_finite_and_silent_for_huge_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = cr.tensor([-1000.0, 1000.0], requires_grad=True)
        y = F.softplus(x)
        np.testing.assert_array_equal(y.numpy(), [0.0, 1000.0])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])
        np.testing.assert_allclose(F.elu(x).numpy(), [-1.0, 1000.0])
        np.testing.assert_array_equal(F.gelu(x).numpy(), [0.0, 1000.0])


def test_rbf_never_exceeds_one_though_rounding_dips_the_distance_below_zero():
    w = cr.tensor(normal(20, 30) * 3)  # float32: ||w_u||^2 - 2 w_u.w_u + ||w_u||^2 rounds
    y = F.rbf(w, w, 1.0).numpy()
    assert np.all(y <= 1.0)
    np.testing.assert_allclose(np.diag(y), np.ones(20), atol=1e-3)


@pytest.mark.parametrize(
    "fn",
    [
        F.leaky_relu,
        F.elu,
        F.softplus,
        F.hardtanh,
        F.abs_rectify,
        F.gelu,
        F.softmax,
        F.log_softmax,
        lambda x: F.prelu(x, cr.tensor([0.25, 0.1, 0.2])),
        lambda x: F.rbf(x, cr.randn(5, 3), 2.0),
        lambda x: F.maxout(x, 3),
    ],
)
def test_activations_keep_float32(fn):
    x = cr.randn(4, 3, requires_grad=True)
    y = fn(x)
    assert y.dtype == cr.float32
    y.sum().backward()
    assert x.grad.dtype == cr.float32


# ------------------------------------------------------------------- errors


def test_bad_hyperparameters_are_rejected_with_their_values():
    x = cr.randn(2, 3)
    with pytest.raises(ArgumentError, match="beta=0"):
        F.softplus(x, beta=0)
    with pytest.raises(ArgumentError, match=r"min_val=1\.0, max_val=-1\.0"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ArgumentTypeError, match="alpha"):
        F.leaky_relu(x, alpha="0.1")
    with pytest.raises(ArgumentError, match="sigma=-1"):
        F.rbf(x, cr.randn(4, 3), -1.0)
    with pytest.raises(ArgumentError, match="num_pieces"):
        F.maxout(x, 0)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 5\).*num_pieces=2"):
        F.maxout(cr.randn(2, 5), 2)
    with pytest.raises(ShapeError, match=r"\(4,\).*\(2, 3\)"):
        F.prelu(cr.randn(2, 3), cr.ones(4))
    with pytest.raises(ShapeError, match=r"\(5, 3\).*\(4, 2\)"):
        F.rbf(cr.randn(5, 3), cr.randn(4, 2))
    with pytest.raises(ShapeError, match=r"sigma of shape \(3,\)"):
        F.rbf(cr.randn(5, 2), cr.randn(4, 2), cr.ones(3))
    with pytest.raises(ArgumentError, match="axis 2"):
        F.softmax(cr.randn(2, 3), axis=2)


# ------------------------------------------------------------------- layers


@pytest.mark.parametrize(
    ("layer", "fn"),
    [
        (nn.Sigmoid(), F.sigmoid),
        (nn.Tanh(), F.tanh),
        (nn.ReLU(), F.relu),
        (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
        (nn.ELU(0.5), lambda x: F.elu(x, 0.5)),
        (nn.Softplus(2.0), lambda x: F.softplus(x, 2.0)),
        (nn.Hardtanh(-2.0, 0.5), lambda x: F.hardtanh(x, -2.0, 0.5)),
        (nn.AbsRectify(), F.abs_rectify),
        (nn.Softmax(axis=0), lambda x: F.softmax(x, axis=0)),
        (nn.LogSoftmax(), F.log_softmax),
        (nn.GELU(), F.gelu),
        (nn.Maxout(2), lambda x: F.maxout(x, 2)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_activation_layer_computes_its_function(layer, fn):
    x = cr.randn(3, 4)
    np.testing.assert_array_equal(layer(x).numpy(), fn(x).numpy())
    assert layer.num_parameters() == 0


def test_activation_layers_check_arguments_at_construction():
    with pytest.raises(ArgumentError, match="beta"):
        nn.Softplus(beta=-1.0)
    with pytest.raises(ArgumentError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ArgumentTypeError, match="alpha"):
        nn.ELU(alpha=None)
    with pytest.raises(ArgumentError, match="num_pieces"):
        nn.Maxout(0)
    with pytest.raises(ArgumentError, match="sigma"):
        nn.RBF(3, 4, sigma=0.0)
    with pytest.raises(ArgumentError, match="num_parameters"):
        nn.PReLU(0)


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


def test_prelu_layer_learns_one_slope_per_channel():
    layer = nn.PReLU(3, dtype="float64")
    np.testing.assert_array_equal(layer.weight.numpy(), [0.25, 0.25, 0.25])
    layer.weight.data[:] = [0.1, 0.2, 0.3]
    x = cr.tensor(away_from_kinks(4, 3, 2, 2), dtype="float64")
    assert_parameter_gradients_match_finite_differences(layer, x)
    shared = nn.PReLU(dtype="float64")
    assert shared.weight.shape == (1,)
    assert_parameter_gradients_match_finite_differences(shared, x)


def test_prelu_slope_gradient_sums_the_negative_inputs_of_its_channel():
    layer = nn.PReLU(2)
    x = cr.tensor([[-1.0, 2.0], [-3.0, -4.0], [5.0, 6.0]])
    layer(x).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [-4.0, -4.0])


def test_rbf_layer_learns_its_centres():
    layer = nn.RBF(3, 4, sigma=2.0, dtype="float64")
    assert layer.weight.shape == (4, 3)
    assert layer.num_parameters() == 12
    assert_parameter_gradients_match_finite_differences(
        layer, cr.tensor(normal(5, 3), dtype="float64")
    )
    with pytest.raises(ShapeError, match=r"RBF\(3 -> 4\) got input of shape \(5, 2\)"):
        layer(cr.randn(5, 2))


def test_rbf_centres_default_to_seeded_normal_draws():
    cr.manual_seed(3)
    a = nn.RBF(2, 5).weight.numpy()
    cr.manual_seed(3)
    b = nn.RBF(2, 5).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert a.std() > 0


def test_maxout_linear_is_a_linear_layer_followed_by_maxout():
    layer = nn.MaxoutLinear(4, 3, num_pieces=2)
    assert layer.weight.shape == (6, 4)
    assert layer.num_parameters() == 6 * 4 + 6
    x = cr.randn(5, 4)
    expected = F.maxout(F.linear(x, layer.weight, layer.bias), 2)
    np.testing.assert_array_equal(layer(x).numpy(), expected.numpy())
    assert layer(x).shape == (5, 3)
    with pytest.raises(ShapeError, match=r"got input of shape \(5, 3\)"):
        layer(cr.randn(5, 3))


def test_maxout_linear_parameter_gradients():
    layer = nn.MaxoutLinear(3, 2, num_pieces=3, dtype="float64")
    assert_parameter_gradients_match_finite_differences(
        layer, cr.tensor(normal(4, 3), dtype="float64")
    )


def test_torch_agrees_on_activation_values_and_gradients():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = away_from_kinks(4, 3, 2)
    alpha = np.array([0.1, 0.2, 0.3])
    pairs = [
        (lambda t: F.leaky_relu(t, 0.1), lambda t: tf.leaky_relu(t, 0.1)),
        (lambda t: F.elu(t, 0.7), lambda t: tf.elu(t, 0.7)),
        (lambda t: F.softplus(t, 2.0), lambda t: tf.softplus(t, 2.0)),
        (F.hardtanh, tf.hardtanh),
        (F.gelu, tf.gelu),
        (lambda t: F.gelu(t, approximate="tanh"), lambda t: tf.gelu(t, approximate="tanh")),
        (lambda t: F.softmax(t, 1), lambda t: torch.softmax(t, 1)),
        (lambda t: F.log_softmax(t, 1), lambda t: torch.log_softmax(t, 1)),
        (lambda t: F.prelu(t, alpha), lambda t: tf.prelu(t, torch.tensor(alpha))),
    ]
    upstream = rng.standard_normal(x.shape)
    for ours, theirs in pairs:
        a = cr.tensor(x, dtype="float64", requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        ya, yb = ours(a), theirs(b)
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-10, atol=1e-12)
        ya.backward(upstream)
        yb.backward(torch.tensor(upstream))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_prelu_counts_its_slopes_like_every_module():
    # its slope count is not stored as num_parameters: that would shadow the method
    prelu = nn.PReLU(4)
    assert prelu.num_parameters() == 4 and prelu.num_slopes == 4
    assert nn.Sequential(nn.Linear(3, 4), prelu).num_parameters() == 3 * 4 + 4 + 4
    assert "num_parameters=4" in repr(prelu)
