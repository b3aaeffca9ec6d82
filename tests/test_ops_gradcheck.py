"""Every differentiable op against central finite differences in float64."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

rng = np.random.default_rng(1234)


def away_from_zero(*shape, low=0.3, high=2.0):
    """Values whose magnitude stays clear of kinks at 0 (abs, relu, sqrt, log)."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def normal(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):
    """Values with no ties, so max/min have one well-defined winner."""
    n = int(np.prod(shape)) if shape else 1
    return (rng.permutation(n).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)).astype(float)


SHAPES = [(), (7,), (3, 4)]
BROADCAST_PAIRS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (3, 4)), ((5,), ())]

UNARY = {
    "neg": (lambda x: -x, normal),
    "exp": (F.exp, normal),
    "log": (F.log, positive),
    "sqrt": (F.sqrt, positive),
    "abs": (F.abs, away_from_zero),
    "tanh": (F.tanh, normal),
    "sigmoid": (F.sigmoid, normal),
    "relu": (F.relu, away_from_zero),
    "pow_scalar": (lambda x: x**3, normal),
    "pow_fractional": (lambda x: x**0.5, positive),
    "rsub_scalar": (lambda x: 2.0 - x, normal),
    "rdiv_scalar": (lambda x: 2.0 / x, positive),
    "clip": (lambda x: F.clip(x, -0.5, 0.8), normal),
    "clip_low_only": (lambda x: F.clip(x, min=0.1), normal),
    "sum": (lambda x: x.sum(), normal),
    "mean": (lambda x: x.mean(), normal),
    "max": (lambda x: x.max(), distinct),
    "min": (lambda x: x.min(), distinct),
    "var": (lambda x: x.var() if x.size > 1 else x * 1.0, normal),
    "std": (lambda x: x.std() if x.size > 1 else x * 1.0, normal),
    "logsumexp": (lambda x: F.logsumexp(x), normal),
    "reshape": (lambda x: x.reshape(-1), normal),
    "flatten": (lambda x: x.flatten(), normal),
    "unsqueeze": (lambda x: x.unsqueeze(0), normal),
    "expand": (lambda x: x.broadcast_to((2, *x.shape)), normal),
    "T": (lambda x: x.T, normal),
    "repeated_use": (lambda x: x * x + x.exp() * x, normal),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_gradient_matches_finite_differences(name, shape):
    fn, sample = UNARY[name]
    cr.gradcheck(fn, [sample(*shape)])


BINARY = {
    "add": (lambda a, b: a + b, normal, normal),
    "sub": (lambda a, b: a - b, normal, normal),
    "mul": (lambda a, b: a * b, normal, normal),
    "div": (lambda a, b: a / b, normal, away_from_zero),
    "pow": (lambda a, b: a**b, positive, normal),
    "maximum": (F.maximum, distinct, lambda *s: distinct(*s) + 0.11),
    "minimum": (F.minimum, distinct, lambda *s: distinct(*s) + 0.11),
    "where": (lambda a, b: F.where(a.data > 0, a, b), away_from_zero, normal),
}


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), *BROADCAST_PAIRS], ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_gradient_matches_finite_differences_with_broadcasting(name, shapes):
    fn, sample_a, sample_b = BINARY[name]
    cr.gradcheck(fn, [sample_a(*shapes[0]), sample_b(*shapes[1])])


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), None])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "var", "logsumexp"])
def test_reduction_gradient_over_axes(op, axis, keepdims):
    x = distinct(2, 3, 4)
    if op == "logsumexp":
        cr.gradcheck(lambda t: F.logsumexp(t, axis, keepdims), [x])
    else:
        cr.gradcheck(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), [x])


def test_max_gradient_is_shared_evenly_between_ties():
    x = cr.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5, 0])


SHAPE_OPS = {
    "permute": (lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "transpose": (lambda x: x.transpose(0, 2), (2, 3, 4)),
    "squeeze": (lambda x: x.squeeze(1), (3, 1, 4)),
    "squeeze_all": (lambda x: x.squeeze(), (1, 3, 1)),
    "flatten_middle": (lambda x: x.flatten(1, 2), (2, 3, 4)),
    "slice": (lambda x: x[1:, ::2], (3, 4)),
    "int_and_none": (lambda x: x[1, None, :, -1], (3, 4, 2)),
    "ellipsis": (lambda x: x[..., 1], (2, 3, 4)),
    "integer_array": (lambda x: x[np.array([2, 0, 2, 2])], (3, 4)),
    "integer_arrays_pairwise": (lambda x: x[np.array([0, 2, 2]), np.array([1, 3, 1])], (3, 4)),
    "boolean_mask": (lambda x: x[x.data > 0], (3, 4)),
    "pad": (lambda x: F.pad(x, ((1, 2), (0, 3))), (3, 4)),
    "pad_int": (lambda x: F.pad(x, 1, value=-1.0), (2, 2)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_gradient_matches_finite_differences(name):
    fn, shape = SHAPE_OPS[name]
    cr.gradcheck(fn, [normal(*shape)])


def test_concatenate_and_stack_gradients():
    cr.gradcheck(lambda a, b: F.concatenate([a, b, a], axis=1), [normal(2, 3), normal(2, 5)])
    cr.gradcheck(lambda a, b: F.stack([a, b], axis=1), [normal(2, 3), normal(2, 3)])
    cr.gradcheck(lambda a, b: F.stack([a, b]), [normal(4), normal(4)])


@pytest.mark.parametrize(
    "shapes",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
    ],
    ids=str,
)
def test_matmul_gradient_batched_and_vector_cases(shapes):
    cr.gradcheck(lambda a, b: a @ b, [normal(*shapes[0]), normal(*shapes[1])])


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)], ids=str)
def test_linear_gradient_for_input_weight_and_bias(x_shape):
    cr.gradcheck(F.linear, [normal(*x_shape), normal(3, 4), normal(3)])
    cr.gradcheck(lambda x, w: F.linear(x, w), [normal(*x_shape), normal(3, 4)])


@pytest.mark.parametrize("x_shape", [(10, 40), (2, 5, 40), (63, 40), (64, 40)])
def test_linear_of_a_few_rows_by_a_wide_weight_is_the_plain_product(monkeypatch, x_shape):
    """Below SMALL_BATCH rows into a weight of WIDE_WEIGHT entries the forward is
    W @ x.T (OpenBLAS is slow at x @ W.T there): the same values, C order, its gradients."""
    from chainrule.ops import linalg

    monkeypatch.setattr(linalg, "WIDE_WEIGHT", 40 * 30)  # the small path for this weight
    x, w, b = normal(*x_shape), normal(30, 40), normal(30)
    y = F.linear(
        cr.tensor(x, dtype="float64"), cr.tensor(w, dtype="float64"), cr.tensor(b, dtype="float64")
    )
    np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=1e-12, atol=1e-12)
    assert y.shape == (*x_shape[:-1], 30) and y.numpy().flags.c_contiguous
    cr.gradcheck(F.linear, [x, w, b])


def test_astype_passes_the_gradient_back_in_the_input_dtype():
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == cr.float32
    (y * cr.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.dtype == cr.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_gradient_for_class_and_probability_targets(smoothing):
    target = np.array([0, 2, 1, 2])
    cr.gradcheck(lambda z: F.cross_entropy(z, target, label_smoothing=smoothing), [normal(4, 3)])
    probs = rng.dirichlet(np.ones(3), size=4)
    cr.gradcheck(lambda z: F.cross_entropy(z, probs, label_smoothing=smoothing), [normal(4, 3)])
    cr.gradcheck(lambda z: F.cross_entropy(z, target, reduction="none"), [normal(4, 3)])
