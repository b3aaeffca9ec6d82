"""Convolution and pooling: against slow loop references, finite differences, and as layers."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError

rng = np.random.default_rng(7)


def distinct(*shape):
    """Values with no ties and gaps of at least 0.01, so a max is unambiguous under gradcheck."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.01 + 0.05) * rng.choice([-1.0, 1.0], shape)


# ------------------------------------------------------------------ references


def windows_reference(x, kernel, stride, padding, fill):
    """Every window of x (N, C, H, W) by a loop over output pixels: (N, C, H', W', kh, kw)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.empty((*x.shape[:2], ho, wo, kh, kw))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
    return out


def conv2d_reference(x, w, b, stride, padding):
    """y[n, f, i, j] = b[f] + sum_{c, u, v} x_padded[n, c, i*sh + u, j*sw + v] w[f, c, u, v]."""
    patches = windows_reference(x, w.shape[2:], stride, padding, 0.0)  # (N, C, H', W', kh, kw)
    return np.einsum("ncijuv,fcuv->nfij", patches, w) + b[None, :, None, None]


def pool_reference(kind, x, kernel, stride, padding=(0, 0), p=2.0):
    fill = -np.inf if kind == "max" else 0.0
    patches = windows_reference(x, kernel, stride, padding, fill)
    if kind == "max":
        return patches.max(axis=(4, 5))
    if kind == "avg":
        return patches.mean(axis=(4, 5))
    return ((patches**p).mean(axis=(4, 5))) ** (1 / p)


def pair(v):
    return (v, v) if isinstance(v, int) else v


# ---------------------------------------------------------------- convolution

CONV_CASES = {
    # name: (x shape, weight shape, stride, padding)
    "basic": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 0),
    "stride_2": ((2, 2, 7, 7), (3, 2, 3, 3), 2, 0),
    "padding_1": ((2, 2, 5, 5), (3, 2, 3, 3), 1, 1),
    "padding_2_stride_2": ((1, 2, 6, 5), (2, 2, 3, 3), 2, 2),
    "non_square_kernel": ((2, 2, 6, 7), (3, 2, 2, 3), 1, 0),
    "rectangular_mixed": ((2, 3, 5, 8), (2, 3, 3, 2), (2, 1), (1, 2)),
    "one_by_one": ((2, 3, 4, 4), (5, 3, 1, 1), 1, 0),
}


@pytest.mark.parametrize("case", CONV_CASES, ids=list(CONV_CASES))
def test_conv2d_matches_the_loop_reference(case):
    x_shape, w_shape, stride, padding = CONV_CASES[case]
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    y = F.conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), stride=stride, padding=padding)
    expected = conv2d_reference(x, w, b, pair(stride), pair(padding))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CONV_CASES, ids=list(CONV_CASES))
def test_conv2d_gradients_for_input_weight_and_bias_pass_gradcheck(case):
    x_shape, w_shape, stride, padding = CONV_CASES[case]
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    cr.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


def test_conv2d_without_bias_passes_gradcheck():
    x, w = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 2))
    cr.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [x, w])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_kept_columns_and_rebuilt_columns_give_the_same_gradients(
    monkeypatch, stride, padding
):
    from chainrule.ops import conv

    x0, w0 = rng.standard_normal((3, 2, 7, 6)), rng.standard_normal((4, 2, 3, 3))
    grads = []
    for limit in (1 << 30, 0):  # every columns kept; none kept (rebuilt from x)
        monkeypatch.setattr(conv, "KEEP_COLUMNS_BYTES", limit)
        x, w = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
        y = F.conv2d(x, w, stride=stride, padding=padding)
        assert y.grad_fn.kept_columns == (limit > 0)
        (y * y).sum().backward()
        grads.append((x.grad.numpy(), w.grad.numpy()))
    for kept, rebuilt in zip(*grads):
        np.testing.assert_array_equal(kept, rebuilt)


@pytest.mark.parametrize("stride, padding, band_bytes", [(1, 0, 1), (2, 1, 1), (1, 1, 500)])
def test_conv2d_in_bands_of_output_rows_equals_one_product(
    monkeypatch, stride, padding, band_bytes
):
    """Columns over BAND_BYTES go through the GEMM a band of output rows at a time."""
    from chainrule.ops import conv

    x0, w0, b0 = (
        rng.standard_normal((3, 2, 9, 7)),
        rng.standard_normal((4, 2, 3, 3)),
        rng.standard_normal(4),
    )
    monkeypatch.setattr(conv, "KEEP_COLUMNS_BYTES", 0)
    results = []
    for limit in (1 << 30, band_bytes):  # one band; a row (or a few) at a time
        monkeypatch.setattr(conv, "BAND_BYTES", limit)
        x, w, b = (cr.tensor(a, dtype="float64", requires_grad=True) for a in (x0, w0, b0))
        y = F.conv2d(x, w, b, stride=stride, padding=padding)
        (y * y).sum().backward()
        results.append([a.numpy() for a in (y, x.grad, w.grad, b.grad)])
    for one, banded in zip(*results):
        np.testing.assert_allclose(banded, one, rtol=1e-13, atol=1e-13)
    want = conv2d_reference(x0, w0, b0, pair(stride), pair(padding))
    np.testing.assert_allclose(results[1][0], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "f, r, k",
    [(20, 25, 5760), (3, 9, 2049), (40, 500, 640), (4, 70, 3000), (2, 5, 100)],
    ids=["chunked", "chunked-ragged", "swapped", "swapped-long", "small"],
)
def test_conv_weight_gradient_product_equals_the_plain_product(f, r, k):
    from chainrule.ops.conv import times_transposed

    g, cols = rng.standard_normal((f, k)), rng.standard_normal((r, k))
    np.testing.assert_allclose(times_transposed(g, cols), g @ cols.T, rtol=1e-12, atol=1e-9)


def test_conv2d_computes_only_the_gradients_asked_for():
    x = cr.tensor(rng.standard_normal((2, 1, 5, 5)))
    w = cr.tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    b = cr.tensor(np.zeros(3))
    F.conv2d(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None
    assert w.grad.shape == (3, 1, 3, 3)
    x.requires_grad, w.requires_grad = True, False
    F.conv2d(x, w, b).sum().backward()
    assert x.grad.shape == (2, 1, 5, 5) and b.grad is None


@pytest.mark.parametrize(
    "op",
    [
        lambda x: nn.Conv2d(3, 4, 3, padding=1)(x),
        lambda x: F.max_pool2d(x, 3, 2, 1),
        lambda x: F.avg_pool2d(x, 3, 2, 1),
        lambda x: F.lp_pool2d(x, 3, 2),
    ],
    ids=["conv", "max", "avg", "lp"],
)
def test_float32_stays_float32_in_outputs_and_gradients(op):
    x = cr.tensor(rng.uniform(0.1, 1.0, (2, 3, 6, 6)), requires_grad=True)
    y = op(x)
    y.backward(np.ones(y.shape))
    assert y.dtype == x.grad.dtype == cr.float32


def dense(features, wd):
    """features (N, k) @ the first k columns of wd (5, 48)^T."""
    return features @ wd[:, : features.shape[1]].T


HEADS = {
    # what follows the pool: another conv (gradient comes back in the conv's layout) or
    # a dense layer straight after a flatten (gradient comes back in C order)
    "conv_head": lambda h, w2, wd: dense(F.conv2d(F.relu(h), w2).flatten(1), wd),
    "dense_head": lambda h, w2, wd: dense(h.flatten(1), wd),
}


def head_reference(head, h, w2, wd):
    if head == "conv_head":
        h = conv2d_reference(np.maximum(h, 0), w2, np.zeros(4), (1, 1), (0, 0))
    return dense(h.reshape(2, -1), wd)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize(
    "pool",
    [
        lambda h: F.max_pool2d(h, 2, padding=1),
        lambda h: F.max_pool2d(h, 3, stride=2, padding=1),
        lambda h: F.avg_pool2d(h, 2, padding=1),
        lambda h: F.avg_pool2d(h, 3, stride=2, padding=1),
        lambda h: F.lp_pool2d(h, 2, 2),
    ],
    ids=["max", "max_overlapping", "avg", "avg_overlapping", "lp"],
)
def test_conv_pool_head_chains_match_the_references_and_gradcheck(pool, head):
    """conv -> pool -> head, as in a CNN: each op takes the layout the one before it left."""
    x, w1, w2, wd = (
        distinct(2, 2, 6, 6),
        rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal((4, 3, 2, 2)),
        rng.standard_normal((5, 48)),
    )

    def net(x, w1, w2, wd):
        return HEADS[head](pool(F.conv2d(x, w1, padding=1)), w2, wd)

    out = net(*[cr.tensor(a, dtype="float64") for a in (x, w1, w2, wd)]).numpy()
    cr.gradcheck(net, [x, w1, w2, wd])
    conv_out = cr.tensor(conv2d_reference(x, w1, np.zeros(3), (1, 1), (1, 1)), dtype="float64")
    expected = head_reference(head, pool(conv_out).numpy(), w2, wd)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------------- pooling

POOL_CASES = {
    # name: (x shape, kernel_size, stride, padding)
    "tiling_2": ((2, 3, 6, 8), 2, None, 0),
    "leftover_rows": ((2, 2, 7, 5), 2, None, 0),
    "overlapping_3_2": ((2, 2, 7, 7), 3, 2, 0),
    "padding_1": ((1, 2, 6, 5), 3, 2, 1),
    "non_square": ((2, 2, 6, 7), (2, 3), (1, 2), (1, 1)),
    "stride_1": ((1, 2, 4, 5), 2, 1, 0),
}


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=list(POOL_CASES))
def test_max_and_avg_pool_match_the_loop_reference(kind, case):
    x_shape, kernel, stride, padding = POOL_CASES[case]
    x = rng.standard_normal(x_shape)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    y = pool(cr.tensor(x, dtype="float64"), kernel, stride, padding)
    expected = pool_reference(kind, x, pair(kernel), pair(stride or kernel), pair(padding))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=list(POOL_CASES))
def test_max_and_avg_pool_pass_gradcheck(kind, case):
    x_shape, kernel, stride, padding = POOL_CASES[case]
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    cr.gradcheck(lambda x: pool(x, kernel, stride, padding), [distinct(*x_shape)])


LP_CASES = {
    "tiling_p2": ((2, 2, 6, 6), 2.0, 2, None),
    "overlapping_p2": ((2, 2, 7, 7), 2.0, 3, 2),
    "non_square_p3": ((1, 2, 5, 7), 3.0, (2, 3), (1, 2)),
    "p1_5_leftover": ((2, 1, 5, 5), 1.5, 2, None),
}


@pytest.mark.parametrize("case", LP_CASES, ids=list(LP_CASES))
def test_lp_pool_is_the_root_of_the_mean_power_and_passes_gradcheck(case):
    x_shape, p, kernel, stride = LP_CASES[case]
    x = rng.uniform(0.2, 2.0, x_shape)
    y = F.lp_pool2d(cr.tensor(x, dtype="float64"), p, kernel, stride)
    expected = pool_reference("lp", x, pair(kernel), pair(stride or kernel), p=p)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    cr.gradcheck(lambda x: F.lp_pool2d(x, p, kernel, stride), [x])


def test_l2_pool_of_a_constant_is_the_constant_not_the_torch_sum():
    y = F.lp_pool2d(cr.full((1, 1, 4, 4), 3.0), 2, 2)
    np.testing.assert_allclose(y.numpy(), 3.0)  # PyTorch's LPPool2d would give sqrt(4 * 9) = 6


def test_l1_pool_of_positive_inputs_is_the_average_pool():
    x = cr.tensor(rng.uniform(0.1, 1.0, (2, 3, 6, 6)))
    np.testing.assert_allclose(
        F.lp_pool2d(x, 1, 3, 2).numpy(), F.avg_pool2d(x, 3, 2).numpy(), rtol=1e-6
    )


def test_lp_pool_gradient_is_zero_not_nan_on_an_all_zero_window():
    x = cr.tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    x.data[0, 0, 0, 0] = 2.0
    F.lp_pool2d(x, 2, 2).sum().backward()
    grad = x.grad.numpy()
    assert np.isfinite(grad).all()
    assert grad[0, 0, 0, 0] == pytest.approx(0.5)  # d/dx sqrt(x^2 / 4) = 1/2
    assert np.count_nonzero(grad) == 1


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (2, 1)])
def test_max_pool_sends_a_tied_window_gradient_to_its_first_maximum(kernel, stride):
    x = cr.tensor(np.zeros((1, 1, 5, 5)), requires_grad=True)  # every window is a tie
    y = F.max_pool2d(x, kernel, stride)
    y.backward(np.ones(y.shape))
    expected = np.zeros((5, 5))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            expected[i * stride, j * stride] += 1  # first in row-major order
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool_ties_prefer_the_first_row_then_the_first_column():
    x = cr.tensor(np.array([[[[0.0, 1.0], [1.0, 1.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_max_pool_padding_never_wins_over_negative_inputs():
    x = cr.full((1, 1, 3, 3), -5.0)
    np.testing.assert_array_equal(F.max_pool2d(x, 3, stride=1, padding=1).numpy(), -5.0)


def test_avg_pool_counts_zero_padding_in_the_mean():
    y = F.avg_pool2d(cr.ones(1, 1, 2, 2), 2, stride=2, padding=1)
    np.testing.assert_allclose(y.numpy(), 0.25)


# -------------------------------------------------------------------- modules


def check_layer_contract(make_layer, input_shape, output_shape, num_parameters):
    """Output shape, parameter count, state_dict round-trip, zero_grad (like Keras' run_layer_test)."""
    layer, twin = make_layer(), make_layer()
    x = cr.randn(*input_shape, requires_grad=True)
    y = layer(x)
    assert y.shape == output_shape
    assert layer.num_parameters() == num_parameters
    twin.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(twin(x).numpy(), y.numpy())
    y.sum().backward()
    assert x.grad.shape == input_shape
    assert all(p.grad is not None for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


@pytest.mark.parametrize(
    "make_layer, input_shape, output_shape, num_parameters",
    [
        (lambda: nn.Conv2d(1, 32, 3), (4, 1, 28, 28), (4, 32, 26, 26), 32 * 9 + 32),
        (
            lambda: nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2)),
            (2, 3, 9, 10),
            (2, 8, 5, 5),
            8 * 3 * 15 + 8,
        ),
        (lambda: nn.Conv2d(4, 6, 1, bias=False), (2, 4, 3, 5), (2, 6, 3, 5), 24),
        (lambda: nn.MaxPool2d(2), (2, 3, 8, 6), (2, 3, 4, 3), 0),
        (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7), (2, 3, 4, 4), 0),
        (lambda: nn.AvgPool2d((2, 3)), (2, 3, 8, 9), (2, 3, 4, 3), 0),
        (lambda: nn.LPPool2d(2, 3, stride=2), (2, 3, 7, 8), (2, 3, 3, 3), 0),
    ],
    ids=[
        "conv",
        "conv_strided_padded",
        "conv_no_bias",
        "maxpool",
        "maxpool_overlap",
        "avgpool",
        "lppool",
    ],
)
def test_layers_keep_the_module_contract(make_layer, input_shape, output_shape, num_parameters):
    check_layer_contract(make_layer, input_shape, output_shape, num_parameters)


def test_conv2d_layer_is_the_functional_conv_with_its_parameters():
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1)
    x = cr.randn(2, 2, 7, 7)
    expected = conv2d_reference(x.numpy(), layer.weight.numpy(), layer.bias.numpy(), (2, 2), (1, 1))
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_conv2d_defaults_to_xavier_uniform_over_the_receptive_field():
    layer = nn.Conv2d(16, 32, 3)
    bound = np.sqrt(6 / (16 * 9 + 32 * 9))
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    assert not layer.bias.numpy().any()


def test_conv2d_takes_initializers_and_dtype():
    layer = nn.Conv2d(2, 3, 3, weight_init="he_normal", bias_init="ones", dtype="float64")
    assert layer.weight.dtype == cr.float64
    np.testing.assert_array_equal(layer.bias.numpy(), 1.0)
    assert layer.weight.numpy().std() == pytest.approx(np.sqrt(2 / 18), rel=0.3)


def test_layer_reprs_show_their_hyperparameters():
    assert repr(nn.Conv2d(1, 32, 3)) == (
        "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), bias=True)"
    )
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert (
        repr(nn.AvgPool2d(3, 2, 1))
        == "AvgPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    )
    assert repr(nn.LPPool2d(2, 3, 2)) == "LPPool2d(p=2, kernel_size=(3, 3), stride=(2, 2))"


# --------------------------------------------------------------------- errors


def test_conv2d_names_itself_and_the_shapes_on_a_wrong_input():
    with pytest.raises(
        ShapeError,
        match=r"Conv2d\(1 -> 32, kernel 3\) got input of shape \(128, 28, 28\); "
        r"expected \(N, 1, H, W\)",
    ):
        nn.Conv2d(1, 32, 3)(cr.zeros(128, 28, 28))
    with pytest.raises(ShapeError, match=r"kernel \(3, 5\)\) got input of shape \(2, 3, 8, 8\)"):
        nn.Conv2d(1, 4, (3, 5))(cr.zeros(2, 3, 8, 8))


def test_a_kernel_larger_than_the_padded_input_is_refused_at_call_time():
    layer = nn.Conv2d(1, 2, 5, padding=1)
    with pytest.raises(ShapeError, match=r"the 5x5 kernel does not fit the 4x4 input"):
        layer(cr.zeros(1, 1, 2, 2))
    with pytest.raises(ShapeError, match=r"MaxPool2d\(kernel 3\).*does not fit the 2x2 input"):
        nn.MaxPool2d(3)(cr.zeros(1, 1, 2, 2))
    with pytest.raises(ShapeError, match=r"conv2d.*does not fit"):
        F.conv2d(cr.zeros(1, 1, 2, 2), cr.zeros(1, 1, 3, 3))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: nn.Conv2d(0, 3, 3), ArgumentError, "in_channels=0"),
        (lambda: nn.Conv2d(1, 3, 0), ArgumentError, "kernel_size must be positive"),
        (lambda: nn.Conv2d(1, 3, 3, stride=(1, 0)), ArgumentError, r"stride=\(1, 0\)"),
        (lambda: nn.Conv2d(1, 3, 3, padding=-1), ArgumentError, "padding must be non-negative"),
        (lambda: nn.Conv2d(1, 3, "3"), ArgumentTypeError, "int or a pair of ints; got '3'"),
        (lambda: nn.Conv2d(1, 3, (3, 3, 3)), ArgumentTypeError, "kernel_size"),
        (lambda: nn.MaxPool2d(2, padding=2), ArgumentError, "at most half the kernel"),
        (lambda: nn.AvgPool2d(2.5), ArgumentTypeError, "AvgPool2d: kernel_size"),
        (lambda: nn.LPPool2d(0, 2), ArgumentError, "p must be positive"),
        (lambda: nn.LPPool2d("2", 2), ArgumentTypeError, "p must be a number"),
    ],
)
def test_invalid_hyperparameters_are_refused_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_functional_forms_check_their_arguments():
    x = cr.zeros(2, 3, 8, 8)
    with pytest.raises(
        ShapeError,
        match=r"conv2d with weight of shape \(4, 2, 3, 3\) got input of shape \(2, 3, 8, 8\); "
        r"expected \(N, 2, H, W\)",
    ):
        F.conv2d(x, cr.zeros(4, 2, 3, 3))
    with pytest.raises(ShapeError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, cr.zeros(4, 3, 3, 3), cr.zeros(3))
    with pytest.raises(ShapeError, match="weight must be 4-D"):
        F.conv2d(x, cr.zeros(4, 3, 3))
    with pytest.raises(
        ShapeError, match=r"max_pool2d got input of shape \(3, 8, 8\); expected \(N, C, H, W\)"
    ):
        F.max_pool2d(cr.zeros(3, 8, 8), 2)
    with pytest.raises(ArgumentError, match="lp_pool2d: p must be positive and finite"):
        F.lp_pool2d(x, float("inf"), 2)
    with pytest.raises(ShapeError, match=r"LPPool2d\(kernel 2\) got input of shape \(8, 8\)"):
        nn.LPPool2d(2, 2)(cr.zeros(8, 8))


def test_functional_forms_are_exported_at_the_top_level():
    assert cr.conv2d is F.conv2d and cr.max_pool2d is F.max_pool2d and cr.avg_pool2d is F.avg_pool2d
