"""Property-based fuzzing of every public layer, op, loss, optimiser and data utility.

The contract under test: a call either returns a correct result (the right shape and
dtype, the values of a NumPy reference where one is cheap, gradients shaped like their
inputs) or raises one of chainrule's own errors -- a ``ChainruleError`` that is also a
``ValueError`` or ``TypeError`` -- whose message names the argument at fault (for a bad
tensor: the input, its shape or dtype). Nothing else may escape: no ``IndexError``,
``ZeroDivisionError``, ``AttributeError`` or raw NumPy error.

NaN and infinity in the data of a math op propagate (NaN in, NaN out is a correct
result); finite inputs within an op's domain give finite outputs. Hyperparameters are
fuzzed one at a time, so a refusal must name that one.

The normal suite runs a few examples per test; ``CHAINRULE_FUZZ=large`` runs thousands
(``pytest tests/test_fuzz.py --hypothesis-show-statistics`` counts them).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import re

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.functional as F
from chainrule import data, model_selection, nn, optim
from chainrule.data import transforms
from chainrule.errors import ChainruleError
from chainrule.optim import lr_scheduler
from chainrule.train import metrics

settings.register_profile(
    "normal",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "large",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("CHAINRULE_FUZZ", "normal"))

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# ------------------------------------------------------------------ the harness


def given(*strategies, **named):
    """``hypothesis.given``, reseeding chainrule's generator before every example, so an
    example's dropout masks and augmentation draws do not depend on the examples before."""

    def decorate(test):
        @functools.wraps(test)
        def seeded(*args, **kwargs):
            cr.manual_seed(0)
            return test(*args, **kwargs)

        return hypothesis.given(*strategies, **named)(seeded)

    return decorate


def names_one_of(message, names):
    """Whether ``message`` names one of ``names`` as a word of its own, or its plural
    ("param" is not named by "parameters", nor "input" by "input_x")."""
    return any(
        re.search(rf"(?<![\w.]){re.escape(name)}s?(?!\w)", message) for name in names if name
    )


def attempt(fn, *args, names, **kwargs):
    """``fn(*args, **kwargs)``; None if it raised chainrule's own ValueError/TypeError
    naming one of ``names``. Any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except ChainruleError as error:
        assert isinstance(error, ValueError | TypeError), f"{type(error).__name__}: {error}"
        message = str(error)
        assert names_one_of(message, names), f"names none of {names}: {message}"
        return None


def refuses(fn, *args, names, **kwargs):
    """``fn(*args, **kwargs)`` must raise chainrule's own ValueError/TypeError, and its
    message must name one of ``names``: a call that goes through fails the test."""
    try:
        result = fn(*args, **kwargs)
    except ChainruleError as error:
        assert isinstance(error, ValueError | TypeError), f"{type(error).__name__}: {error}"
        assert names_one_of(str(error), names), f"names none of {names}: {error}"
        return
    raise AssertionError(f"accepted {args} {kwargs}, giving {result!r}")


INPUT_WORDS = ("input", "other", "target", "data", "x", "shape", "dtype", "axis")

FLOAT_DTYPES = [np.float32, np.float64]
ALL_DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_]


@st.composite
def arrays(draw, dtypes=ALL_DTYPES, shape=None, finite=False, min_dims=0, max_dims=4, max_side=4):
    """An array of a drawn dtype and shape; floats include NaN, inf and extremes unless finite."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if shape is None:
        shape = draw(
            hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
        )
    if dtype.kind == "f" and finite:
        elements = hnp.from_dtype(
            dtype, min_value=-10, max_value=10, allow_nan=False, allow_infinity=False
        )
    elif dtype.kind in "iu":
        elements = hnp.from_dtype(dtype, min_value=0 if dtype.kind == "u" else -100, max_value=100)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


def tensor(array, requires_grad=False):
    """A chainrule tensor keeping ``array``'s dtype (float16 and float64 included)."""
    t = cr.tensor(array, dtype=array.dtype)
    if requires_grad and array.dtype.kind == "f":
        t.requires_grad = True
    return t


def check_backward(out, *inputs):
    """Backward through ``out``: every input that needs grad gets one of its shape and dtype."""
    if not out.requires_grad:
        return
    out.sum().backward()
    for t in inputs:
        if isinstance(t, cr.Tensor) and t.requires_grad:
            assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == t.dtype


def close(actual, expected, dtype):
    tol = {np.dtype(np.float16): 2e-2, np.dtype(np.float32): 1e-4}.get(np.dtype(dtype), 1e-9)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True)


# A hyperparameter drawn from everything a user might pass by mistake, or on purpose.
ODD_VALUES = st.one_of(
    st.integers(-3, 8),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, True, False, "1", "mean", (), (1, 2), (0.9, 0.99), [1], -0.0, 1e-300]),
)

# ----------------------------------------------------------------- elementwise ops

UNARY = {
    "neg": (F.neg, np.negative),
    "exp": (F.exp, np.exp),
    "log": (F.log, np.log),
    "sqrt": (F.sqrt, np.sqrt),
    "abs": (F.abs, np.abs),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "relu": (F.relu, lambda x: np.where(x > 0, x, 0)),
    "softplus": (F.softplus, lambda x: np.logaddexp(0, x)),
    "elu": (F.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    "hardtanh": (F.hardtanh, lambda x: np.clip(x, -1, 1)),
    "abs_rectify": (F.abs_rectify, np.abs),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3))),
    ),
}


@given(st.sampled_from(sorted(UNARY)), arrays(), st.booleans())
def test_unary_ops_match_numpy_or_refuse(name, array, requires_grad):
    op, reference = UNARY[name]
    x = tensor(array, requires_grad)
    out = attempt(op, x, names=(name, *INPUT_WORDS))
    if out is None:
        return
    assert out.shape == array.shape
    if array.dtype.kind == "f":
        assert out.dtype == array.dtype
        with np.errstate(all="ignore"):
            expected = reference(array.astype(np.float64))
        if np.isfinite(expected).all() and np.abs(expected).max(initial=0) < 1e4:
            close(out.numpy(), expected, array.dtype)
    check_backward(out, x)


@given(st.sampled_from(["softmax", "log_softmax"]), arrays(finite=True), st.integers(-5, 5))
def test_softmax_rows_sum_to_one_or_refuse(name, array, axis):
    x = tensor(array, requires_grad=True)
    out = attempt(getattr(F, name), x, axis, names=("axis", *INPUT_WORDS))
    if out is None:
        return
    assert out.shape == array.shape
    if array.dtype.kind == "f" and array.size:
        probs = out.numpy() if name == "softmax" else np.exp(out.numpy().astype(np.float64))
        close(probs.sum(axis=axis), np.ones_like(probs.sum(axis=axis)), np.float16)
    check_backward(out, x)


BINARY = {
    "add": F.add,
    "sub": F.sub,
    "mul": F.mul,
    "div": F.div,
    "pow": F.pow,
    "maximum": F.maximum,
    "minimum": F.minimum,
    "eq": F.eq,
    "lt": F.lt,
    "ge": F.ge,
}


@st.composite
def two_shapes(draw):
    """Shapes that broadcast together (mostly) or not (sometimes)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    if draw(st.booleans()):
        return draw(hnp.mutually_broadcastable_shapes(num_shapes=2, base_shape=shape)).input_shapes
    return shape, draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))


@given(st.sampled_from(sorted(BINARY)), two_shapes(), st.data())
def test_binary_ops_broadcast_like_numpy_or_refuse(name, shapes, data_):
    a = data_.draw(arrays(shape=shapes[0]))
    b = data_.draw(arrays(shape=shapes[1]))
    x, y = tensor(a, True), tensor(b, True)
    out = attempt(BINARY[name], x, y, names=(name, *INPUT_WORDS))
    try:
        expected_shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        assert out is None, "incompatible shapes must be refused"
        return
    if out is None:
        return
    assert out.shape == expected_shape
    check_backward(out, x, y)


@given(two_shapes(), st.data())
def test_matmul_and_linear_follow_numpy_shapes_or_refuse(shapes, data_):
    a = data_.draw(arrays(FLOAT_DTYPES, shape=shapes[0], finite=True))
    b = data_.draw(arrays(FLOAT_DTYPES, shape=shapes[1], finite=True))
    x, w = tensor(a, True), tensor(b, True)
    out = attempt(F.matmul, x, w, names=("matmul", *INPUT_WORDS))
    if out is not None:
        close(out.numpy(), a.astype(np.float64) @ b.astype(np.float64), np.float32)
        check_backward(out, x, w)
    x.grad = w.grad = None
    out = attempt(F.linear, x, w, names=("linear", "weight", *INPUT_WORDS))
    if out is not None:
        close(out.numpy(), a.astype(np.float64) @ b.astype(np.float64).T, np.float32)
        check_backward(out, x, w)


@given(arrays(), st.one_of(ODD_VALUES, st.floats(-3, 3)), st.one_of(ODD_VALUES, st.floats(-3, 3)))
def test_clip_and_where(array, low, high):
    x = tensor(array, True)
    out = attempt(F.clip, x, low, high, names=("min", "max", "dtype"))  # -1 for uint8: dtype
    if out is not None:
        assert out.shape == array.shape
        check_backward(out, x)
    condition = array > 0 if array.dtype != np.bool_ else array
    out = attempt(F.where, condition, x, high, names=("where", "condition", *INPUT_WORDS))
    if out is not None:
        assert out.shape == np.broadcast_shapes(array.shape, np.shape(high))


# ----------------------------------------------------------------- reductions


AXES = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.lists(st.integers(-4, 4), max_size=3).map(tuple),
    st.sampled_from([1.0, "0", True]),
)


@given(
    st.sampled_from(["sum", "mean", "max", "min", "var", "std", "logsumexp"]),
    arrays(),
    AXES,
    st.booleans(),
)
def test_reductions_match_numpy_or_refuse(name, array, axis, keepdims):
    x = tensor(array, True)
    out = attempt(getattr(F, name), x, axis, keepdims, names=("axis", name, *INPUT_WORDS))
    if out is None:
        return
    reference = getattr(np, name, None)
    expected_shape = np.sum(np.zeros(array.shape), axis=axis, keepdims=keepdims).shape
    assert out.shape == expected_shape
    if reference is not None and array.dtype.kind == "f":
        with np.errstate(all="ignore"):
            expected = reference(array.astype(np.float64), axis=axis, keepdims=keepdims)
        if np.isfinite(expected).all() and np.abs(expected).max(initial=0) < 1e3:
            close(out.numpy(), expected, np.float16)
    check_backward(out, x)


@given(
    st.sampled_from(["argmax", "argmin"]), arrays(), st.one_of(st.none(), st.integers(-5, 5), AXES)
)
def test_argmax_and_argmin_match_numpy_or_refuse(name, array, axis):
    out = attempt(getattr(F, name), tensor(array), axis, names=("axis", name, *INPUT_WORDS))
    if out is not None:
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(array, axis=axis))


# ----------------------------------------------------------------- shape ops


def shape_op_arguments(name, n):
    """A strategy for the arguments after x of shape op ``name`` on an n-d tensor."""
    ints = st.integers(-n - 2, n + 2)
    sizes = st.lists(st.integers(-2, 6), max_size=4).map(tuple)
    return {
        "reshape": st.tuples(st.one_of(sizes, ODD_VALUES)),
        "permute": st.tuples(
            st.one_of(
                st.permutations(range(n)).map(tuple),
                st.lists(ints, max_size=4).map(tuple),
                ODD_VALUES,
            )
        ),
        "transpose": st.tuples(st.one_of(ints, ODD_VALUES), ints),
        "flatten": st.tuples(st.one_of(ints, ODD_VALUES), ints),
        "squeeze": st.tuples(st.one_of(st.none(), ints, ODD_VALUES)),
        "unsqueeze": st.tuples(st.one_of(ints, ODD_VALUES)),
        "broadcast_to": st.tuples(st.one_of(sizes, ODD_VALUES)),
        "pad": st.tuples(
            st.one_of(
                st.integers(-1, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)), ODD_VALUES
            ),
            st.one_of(st.floats(-1, 1), ODD_VALUES),
        ),
        "getitem": st.tuples(
            st.one_of(ints, st.slices(4), st.tuples(ints, ints), st.just(Ellipsis), ODD_VALUES)
        ),
    }[name]


SHAPE_REFERENCES = {
    "reshape": np.reshape,
    "permute": np.transpose,
    "transpose": np.swapaxes,
    "squeeze": np.squeeze,
    "unsqueeze": np.expand_dims,
    "broadcast_to": np.broadcast_to,
    "getitem": lambda a, index: a[index],
    "flatten": None,
    "pad": None,
}


@pytest.mark.parametrize("name", sorted(SHAPE_REFERENCES))
@given(array=arrays(), data_=st.data())
def test_shape_ops_move_values_like_numpy_or_refuse(name, array, data_):
    x = tensor(array, True)
    args = data_.draw(shape_op_arguments(name, array.ndim))
    names = ("shape", "axis", "axes", "index", "pad_width", "value", name, *INPUT_WORDS)
    out = attempt(getattr(F, name), x, *args, names=names)
    if out is None:
        return
    reference = SHAPE_REFERENCES[name]
    if reference is not None:
        numpy_args = [tuple(a) if isinstance(a, list) else a for a in args]  # NumPy wants tuples
        np.testing.assert_array_equal(out.numpy(), reference(array, *numpy_args))
    elif name == "flatten":
        assert out.size == array.size and out.ndim <= max(array.ndim, 1)
    else:
        assert out.ndim == array.ndim
    check_backward(out, x)


@given(
    st.lists(arrays(max_dims=3, max_side=3), min_size=0, max_size=3),
    st.integers(-4, 4),
    st.booleans(),
)
def test_concatenate_and_stack_match_numpy_or_refuse(arrays_, axis, stack):
    tensors = [tensor(a, True) for a in arrays_]
    op, reference = (F.stack, np.stack) if stack else (F.concatenate, np.concatenate)
    out = attempt(op, tensors, axis, names=("stack", "concatenate", "axis", *INPUT_WORDS))
    if out is None:
        return
    np.testing.assert_array_equal(out.numpy(), reference(arrays_, axis))
    check_backward(out, *tensors)


@given(
    arrays(),
    st.one_of(st.sampled_from(["float32", "float64", "int64", "bool", "float16"]), ODD_VALUES),
)
def test_astype_and_to_device_convert_or_refuse(array, dtype):
    x = tensor(array, True)
    out = attempt(F.astype, x, dtype, names=("dtype",))
    if out is not None:
        assert out.dtype == np.dtype(dtype) and out.shape == array.shape
    out = attempt(
        F.to_device, x, dtype if isinstance(dtype, str) else "tpu", names=("device", "cuda", "CuPy")
    )
    if out is not None:
        assert out is x


# ------------------------------------------------------------------------ losses

LOSSES = ["mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


@given(
    st.sampled_from(LOSSES),
    arrays(max_dims=3),
    st.data(),
    st.one_of(st.sampled_from(["mean", "sum", "none"]), ODD_VALUES),
)
def test_elementwise_losses_are_right_or_refuse(name, array, data_, reduction):
    target = data_.draw(st.one_of(arrays(shape=array.shape), arrays(max_dims=3)))
    x = tensor(array, True)
    out = attempt(
        getattr(F, name), x, target, reduction, names=(name, "reduction", "target", *INPUT_WORDS)
    )
    if out is None:
        return
    assert out.shape == (array.shape if reduction == "none" else ())
    if (
        name == "mse_loss"
        and reduction == "sum"
        and np.isfinite(array).all()
        and np.isfinite(target).all()
    ):
        with np.errstate(all="ignore"):
            expected = ((array.astype(np.float64) - target.astype(np.float64)) ** 2).sum()
        if expected < 1e4:
            close(out.item(), expected, np.float16)
    check_backward(out, x)


@given(
    st.sampled_from(["cross_entropy", "nll_loss"]),
    arrays(max_dims=3, max_side=5),
    st.data(),
    st.one_of(st.sampled_from(["mean", "sum", "none"]), ODD_VALUES),
    st.one_of(st.floats(0, 1), ODD_VALUES),
)
def test_classification_losses_are_right_or_refuse(name, logits, data_, reduction, smoothing):
    n = logits.shape[0] if logits.ndim else 0
    c = logits.shape[1] if logits.ndim > 1 else 1
    target = data_.draw(
        st.one_of(
            hnp.arrays(np.int64, (n,), elements=st.integers(0, max(c - 1, 0))),
            arrays(max_dims=2, max_side=5),
        )
    )
    x = tensor(logits, True)
    kwargs = {"label_smoothing": smoothing} if name == "cross_entropy" else {}
    names = (name, "reduction", "target", "label_smoothing", *INPUT_WORDS)
    out = attempt(getattr(F, name), x, target, reduction, names=names, **kwargs)
    if out is None:
        return
    assert out.shape == ((n,) if reduction == "none" else ())
    if (
        name == "cross_entropy"
        and target.dtype.kind == "i"
        and smoothing == 0
        and n
        and np.isfinite(logits).all()
    ):
        z = logits.astype(np.float64)
        log_probs = (
            z
            - z.max(1, keepdims=True)
            - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
        )
        per_sample = -log_probs[np.arange(n), target]
        expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[
            reduction
        ]
        if np.isfinite(expected).all() and np.abs(expected).max() < 1e3:
            close(out.numpy(), expected, np.float16)
    check_backward(out, x)


# ---------------------------------------------------------- the other neural ops


@given(arrays(max_dims=4), st.one_of(st.floats(0, 0.99), ODD_VALUES), st.booleans())
def test_dropout_zeroes_and_scales_or_refuses(array, p, training):
    x = tensor(array, True)
    out = attempt(F.dropout, x, p, training, names=("p", *INPUT_WORDS))
    if out is None:
        return
    assert out.shape == array.shape
    if training and p and array.dtype.kind == "f":
        # where x is finite, each element is 0 or x / (1 - p); a dropped inf is NaN (inf * 0),
        # as in PyTorch
        finite = np.isfinite(array)
        kept = (out.numpy() != 0) & finite
        close(out.numpy()[kept], (array[kept] / (1 - p)).astype(array.dtype), array.dtype)
    check_backward(out, x)


@given(arrays(FLOAT_DTYPES, max_dims=4, finite=True), st.data())
def test_batch_norm_normalises_or_refuses(array, data_):
    c = array.shape[1] if array.ndim > 1 else 1
    mean = data_.draw(
        st.one_of(st.none(), st.just(np.zeros(c, array.dtype)), arrays(FLOAT_DTYPES, max_dims=1))
    )
    var = None if mean is None else np.ones(mean.shape, array.dtype)
    training = data_.draw(st.booleans())
    momentum = data_.draw(st.one_of(st.floats(0, 1), ODD_VALUES))
    eps = data_.draw(st.one_of(st.just(1e-5), ODD_VALUES))
    x = tensor(array, True)
    names = ("momentum", "eps", "running_mean", "running_var", "variance", *INPUT_WORDS)
    out = attempt(F.batch_norm, x, mean, var, None, None, training, momentum, eps, names=names)
    if out is None:
        return
    assert out.shape == array.shape and out.dtype == array.dtype
    if training and array.size > 2 * c:
        axes = (0, *range(2, array.ndim))
        assert np.abs(out.numpy().astype(np.float64).mean(axis=axes)).max() < 1e-2
    check_backward(out, x)


@given(arrays(FLOAT_DTYPES, min_dims=0, max_dims=5, max_side=6, finite=True), st.data())
def test_convolution_and_pooling_compute_their_output_shape_or_refuse(array, data_):
    pair = st.one_of(
        st.integers(-1, 4), st.tuples(st.integers(0, 4), st.integers(0, 4)), ODD_VALUES
    )
    kind = data_.draw(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d", "lp_pool2d"]))
    kernel, stride, padding = data_.draw(pair), data_.draw(pair), data_.draw(pair)
    x = tensor(array, True)
    names = ("kernel_size", "stride", "padding", "weight", "bias", "p", kind, *INPUT_WORDS)
    if kind == "conv2d":
        c = array.shape[1] if array.ndim > 1 else 1
        weight = data_.draw(
            arrays(
                FLOAT_DTYPES,
                shape=data_.draw(
                    st.sampled_from([(2, c, 2, 2), (2, c, 1, 3), (3,), (2, c + 1, 2, 2)])
                ),
                finite=True,
            )
        )
        w = tensor(weight.astype(array.dtype), True)
        out = attempt(F.conv2d, x, w, None, stride, padding, names=names)
    elif kind == "lp_pool2d":
        p = data_.draw(st.one_of(st.sampled_from([1, 2, 3.5]), ODD_VALUES))
        out = attempt(F.lp_pool2d, x, p, kernel, stride, names=names)
    else:
        out = attempt(getattr(F, kind), x, kernel, stride, padding, names=names)
    if out is None:
        return
    assert out.ndim == 4 and out.dtype == array.dtype
    assert np.isfinite(out.numpy()).all() or kind == "lp_pool2d"
    check_backward(out, x)


@given(arrays(FLOAT_DTYPES, max_dims=3, finite=True), st.data())
def test_prelu_rbf_and_maxout_refuse_what_does_not_fit(array, data_):
    x = tensor(array, True)
    alpha = tensor(data_.draw(arrays(FLOAT_DTYPES, max_dims=2, max_side=3, finite=True)), True)
    out = attempt(F.prelu, x, alpha, names=("alpha", *INPUT_WORDS))
    if out is not None:
        assert out.shape == array.shape
        check_backward(out, x, alpha)
    centres = tensor(data_.draw(arrays(FLOAT_DTYPES, max_dims=2, finite=True)), True)
    sigma = data_.draw(st.one_of(st.floats(0.1, 3), ODD_VALUES))
    out = attempt(F.rbf, x, centres, sigma, names=("sigma", "centres", *INPUT_WORDS))
    if out is not None:
        assert out.shape == (array.shape[0], centres.shape[0])
        assert ((out.numpy() >= 0) & (out.numpy() <= 1)).all()
    pieces = data_.draw(st.one_of(st.integers(-1, 4), ODD_VALUES))
    out = attempt(
        F.maxout,
        x,
        pieces,
        data_.draw(st.integers(-4, 3)),
        names=("num_pieces", "axis", *INPUT_WORDS),
    )
    if out is not None:
        assert out.size * pieces == array.size


# ------------------------------------------------------------------------ layers

# name -> (valid constructor arguments, a valid input shape, its output shape)
LAYERS = {
    "Linear": (dict(in_features=3, out_features=2, bias=True), (4, 3), (4, 2)),
    "Identity": ({}, (2, 3), (2, 3)),
    "Flatten": (dict(start_axis=1, end_axis=-1), (2, 3, 4), (2, 12)),
    "Sigmoid": ({}, (2, 3), (2, 3)),
    "Tanh": ({}, (2, 3), (2, 3)),
    "ReLU": ({}, (2, 3), (2, 3)),
    "GELU": ({}, (2, 3), (2, 3)),
    "AbsRectify": ({}, (2, 3), (2, 3)),
    "LeakyReLU": (dict(alpha=0.1), (2, 3), (2, 3)),
    "PReLU": (dict(num_parameters=3, init=0.25), (2, 3, 4), (2, 3, 4)),
    "ELU": (dict(alpha=1.0), (2, 3), (2, 3)),
    "Softplus": (dict(beta=2.0), (2, 3), (2, 3)),
    "Hardtanh": (dict(min_val=-1.0, max_val=1.0), (2, 3), (2, 3)),
    "Softmax": (dict(axis=-1), (2, 3), (2, 3)),
    "LogSoftmax": (dict(axis=1), (2, 3), (2, 3)),
    "RBF": (dict(in_features=3, out_features=2, sigma=1.0), (4, 3), (4, 2)),
    "Maxout": (dict(num_pieces=2, axis=1), (2, 4, 3), (2, 2, 3)),
    "MaxoutLinear": (dict(in_features=3, out_features=2, num_pieces=2), (4, 3), (4, 2)),
    "Dropout": (dict(p=0.5), (2, 3), (2, 3)),
    "BatchNorm1d": (dict(num_features=3, eps=1e-5, momentum=0.1, affine=True), (4, 3), (4, 3)),
    "BatchNorm2d": (dict(num_features=2, eps=1e-5, momentum=0.1), (3, 2, 4, 4), (3, 2, 4, 4)),
    "Conv2d": (
        dict(in_channels=2, out_channels=3, kernel_size=3, stride=1, padding=1),
        (2, 2, 5, 5),
        (2, 3, 5, 5),
    ),
    "MaxPool2d": (dict(kernel_size=2, stride=2, padding=1), (2, 3, 4, 4), (2, 3, 3, 3)),
    "AvgPool2d": (dict(kernel_size=2, stride=1, padding=0), (2, 3, 4, 4), (2, 3, 3, 3)),
    "LPPool2d": (dict(p=2.0, kernel_size=2, stride=2), (2, 3, 4, 4), (2, 3, 2, 2)),
}


def hyperparameters(name):
    """Every argument of layer ``name``'s constructor."""
    return list(inspect.signature(getattr(nn, name)).parameters)


def layer_value(name):
    """A value for a layer argument: mostly odd, sometimes a name or function it accepts."""
    return st.one_of(
        ODD_VALUES,
        st.sampled_from(["he_normal", "zeros", "no-such-init", "float64", "int64", nn.init.ones_]),
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(data_=st.data())
def test_layers_refuse_bad_hyperparameters_naming_them(name, data_):
    kwargs, shape, _ = LAYERS[name]
    if hyperparameters(name):
        argument = data_.draw(st.sampled_from(hyperparameters(name)))
        kwargs = {**kwargs, argument: data_.draw(layer_value(name))}
    else:
        argument = name
    layer = attempt(getattr(nn, name), **kwargs, names=(argument,))
    if layer is None:
        return
    repr(layer)
    layer.load_state_dict(layer.state_dict())
    x = tensor(np.random.default_rng(0).normal(size=shape).astype(np.float32), True)
    out = attempt(layer, x, names=(argument, name, *INPUT_WORDS))
    if out is not None:
        check_backward(out, x, *layer.parameters())


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(data_=st.data())
def test_layers_take_their_inputs_or_refuse_naming_them(name, data_):
    kwargs, shape, out_shape = LAYERS[name]
    layer = getattr(nn, name)(**kwargs)
    array = data_.draw(
        st.one_of(arrays(shape=shape), arrays(FLOAT_DTYPES, shape=shape, finite=True), arrays())
    )
    if data_.draw(st.booleans()):
        layer.eval()
    x = tensor(array, True)
    out = attempt(layer, x, names=(name, *INPUT_WORDS))
    if out is None:
        return
    if array.shape == shape:
        assert out.shape == out_shape
        if array.dtype.kind == "f" and np.abs(array).max(initial=0) < 1e3:  # no overflow
            assert np.isfinite(out.numpy()).all()
    check_backward(out, x, *layer.parameters())


LOSS_MODULES = ["MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", LOSS_MODULES)
@given(data_=st.data())
def test_loss_modules_check_reduction_and_their_operands(name, data_):
    argument = data_.draw(st.sampled_from(hyperparameters(name)))
    value = data_.draw(
        st.one_of(st.sampled_from(["mean", "sum", "none"]), st.floats(0, 1), ODD_VALUES)
    )
    loss = attempt(getattr(nn, name), **{argument: value}, names=(argument,))
    if loss is None:
        return
    x = tensor(data_.draw(arrays(max_dims=2, max_side=4)), True)
    target = data_.draw(st.one_of(arrays(max_dims=2, max_side=4), arrays(shape=x.shape)))
    out = attempt(loss, x, target, names=(name, "target", "reduction", *INPUT_WORDS))
    if out is not None:
        check_backward(out, x)


@given(data_=st.data())
def test_containers_residual_and_penalties_refuse_what_is_not_a_module(data_):
    thing = data_.draw(
        st.one_of(st.sampled_from([nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)]), ODD_VALUES)
    )
    attempt(nn.ModuleList, [thing], names=("Module",))
    residual = attempt(nn.Residual, thing, names=("f",))
    if residual is not None:
        attempt(residual, cr.ones(2, 3), names=("Residual", *INPUT_WORDS))
    for penalty in (nn.l1_penalty, nn.l2_penalty):
        out = attempt(
            penalty,
            thing,
            data_.draw(st.one_of(st.floats(0, 1), ODD_VALUES)),
            names=("lam", "Module"),
        )
        if out is not None:
            assert out.shape == () and out.item() >= 0
    for build in (nn.L1L2, lambda v: nn.L1L2(l2=v)):
        attempt(build, data_.draw(ODD_VALUES), names=("l1", "l2", "lam"))
    constraint = attempt(
        nn.MaxNorm, data_.draw(st.one_of(st.floats(0.1, 5), ODD_VALUES)), names=("max_value",)
    )
    if constraint is not None:
        attempt(constraint, thing, names=("Parameters", "Tensor", "Module"))


@given(
    st.lists(arrays(FLOAT_DTYPES, max_dims=3), min_size=1, max_size=3),
    st.one_of(st.floats(0.1, 5), ODD_VALUES),
    st.one_of(st.sampled_from([1, 2, math.inf]), ODD_VALUES),
)
def test_gradient_clipping_bounds_the_norm_or_refuses(grads, max_norm, norm_type):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(g.shape, g.dtype))
        p.grad = cr.tensor(g, dtype=g.dtype)
        params.append(p)
    total = attempt(
        nn.clip_grad_norm_, params, max_norm, norm_type, names=("max_norm", "norm_type")
    )
    if total is not None and math.isfinite(total):
        flat = np.abs(np.concatenate([p.grad.numpy().astype(np.float64).ravel() for p in params]))
        top = flat.max(initial=0)  # the p-norm scaled by the largest entry: no overflow
        norm = (
            top
            if norm_type == math.inf or top == 0
            else top * ((flat / top) ** norm_type).sum() ** (1 / norm_type)
        )
        assert norm <= max_norm * (1 + 1e-3) + 1e-6
    if attempt(nn.clip_grad_value_, params, max_norm, names=("clip_value",)) is None:
        return
    for p in params:
        finite = p.grad.numpy()[np.isfinite(p.grad.numpy())]
        assert (np.abs(finite) <= max_norm * (1 + 1e-6)).all()


INITS = [
    "zeros_",
    "ones_",
    "constant_",
    "uniform_",
    "normal_",
    "truncated_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "lecun_normal_",
    "inv_sqrt_fan_in_normal_",
]


@pytest.mark.parametrize("name", INITS)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4), data_=st.data())
def test_initialisers_fill_in_place_or_refuse(name, shape, data_):
    init = getattr(nn.init, name)
    arguments = [p for p in inspect.signature(init).parameters if p not in ("tensor", "generator")]
    kwargs = {}
    if arguments and data_.draw(st.booleans()):
        argument = data_.draw(st.sampled_from(arguments))
        kwargs[argument] = data_.draw(
            st.one_of(ODD_VALUES, st.sampled_from(["fan_in", "fan_out", "relu", "tanh", "selu"]))
        )
    else:
        argument = "tensor"
    if name == "constant_" and "value" not in kwargs:
        kwargs["value"] = 0.5
    w = cr.zeros(shape)
    out = attempt(init, w, **kwargs, names=(argument, "shape", "weight"))
    if out is not None:
        assert out is w and w.shape == shape and w.dtype == np.float32


# -------------------------------------------------------------------- optimisers

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]


def fresh_parameters(seed=0):
    rng = np.random.default_rng(seed)
    return [
        nn.Parameter(rng.normal(size=(3, 2)).astype(np.float32)),
        nn.Parameter(np.zeros(2, np.float32)),
    ]


def set_gradients(params, grads):
    for p, g in zip(params, grads):
        p.grad = cr.tensor(g, dtype=p.dtype)


@pytest.mark.parametrize("name", OPTIMIZERS)
@given(data_=st.data())
def test_optimisers_refuse_bad_hyperparameters_naming_them(name, data_):
    cls = getattr(optim, name)
    signature = inspect.signature(cls).parameters
    arguments = [p for p in signature if p != "params"]
    argument = data_.draw(st.sampled_from(arguments))
    default = signature[argument].default
    if argument == "betas":
        bad = [None, "0.9", (0.9,), (1.5, 0.9), (0.9, -0.1), (math.nan, 0.9), 0.9]
    elif isinstance(default, bool):
        bad = [None, "yes", 2, 0.5]
    else:  # every numeric hyperparameter is a finite number >= 0
        bad = [None, "0.1", [0.1], math.nan, math.inf, -math.inf, -1.0, -1e-3]
    value = data_.draw(st.sampled_from(bad))
    refuses(cls, fresh_parameters(), **{argument: value}, names=(argument,))


@pytest.mark.parametrize("name", OPTIMIZERS)
@given(data_=st.data())
def test_optimisers_take_good_hyperparameters_and_step(name, data_):
    cls = getattr(optim, name)
    signature = inspect.signature(cls).parameters
    argument = data_.draw(st.sampled_from([p for p in signature if p != "params"]))
    default = signature[argument].default
    if argument == "betas":
        value = data_.draw(st.tuples(st.floats(0, 0.99), st.floats(0, 0.999)))
    elif isinstance(default, bool):
        value = data_.draw(st.booleans())
    else:
        value = data_.draw(st.floats(1e-6, 0.9))
    kwargs = {argument: value}
    if argument == "nesterov" and value:
        kwargs["momentum"] = 0.9  # Nesterov momentum needs momentum
    params = fresh_parameters()
    opt = cls(params, **kwargs)
    set_gradients(params, [np.ones((3, 2)), np.ones(2)])
    opt.step()
    assert all(np.isfinite(p.numpy()).all() for p in params)
    repr(opt)


@pytest.mark.parametrize("name", OPTIMIZERS)
@given(
    data_=st.data(),
    steps=st.integers(1, 4),
)
def test_optimiser_steps_stay_finite_and_round_trip_their_state(name, data_, steps):
    cls = getattr(optim, name)
    finite = data_.draw(st.booleans())
    grad_arrays = st.tuples(
        arrays([np.float32], shape=(3, 2), finite=finite),
        arrays([np.float32], shape=(2,), finite=finite),
    )
    params, twin = fresh_parameters(), fresh_parameters()
    opt = cls(params, lr=0.01)
    for _ in range(steps):
        set_gradients(params, data_.draw(grad_arrays))
        opt.step()
    if finite:
        assert all(np.isfinite(p.numpy()).all() for p in params)
    for p, q in zip(twin, params):
        q_data = q.numpy().copy()
        p.data[...] = q_data
    twin_opt = cls(twin, lr=0.01)
    twin_opt.load_state_dict(opt.state_dict())
    grads = data_.draw(grad_arrays)
    set_gradients(params, grads)
    set_gradients(twin, grads)
    opt.step()
    twin_opt.step()
    for p, q in zip(params, twin):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


@given(
    st.one_of(ODD_VALUES, st.lists(st.sampled_from([1, "w", None]), max_size=2)),
    st.sampled_from(OPTIMIZERS),
)
def test_optimisers_refuse_what_is_not_a_parameter_list(params, name):
    refuses(getattr(optim, name), params, names=("params", "parameter list"))


SCHEDULERS = {
    "StepLR": dict(step_size=2, gamma=0.5),
    "MultiStepLR": dict(milestones=[1, 3], gamma=0.5),
    "ExponentialLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=5, eta_min=0.0),
    "LinearDecay": dict(final_lr=0.001, tau=4),
    "LambdaLR": dict(lr_lambda=lambda k: 1 / (k + 1)),
    "LinearWarmup": dict(warmup_steps=2, start_factor=0.1),
    "OneCycleLR": dict(
        max_lr=0.1, total_steps=10, pct_start=0.3, div_factor=25.0, final_div_factor=1e4
    ),
    "ReduceLROnPlateau": dict(
        mode="min",
        factor=0.5,
        patience=1,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@given(data_=st.data())
def test_lr_schedules_refuse_bad_arguments_and_keep_lr_finite(name, data_):
    kwargs = dict(SCHEDULERS[name])
    argument = data_.draw(st.sampled_from(sorted(kwargs)))
    kwargs[argument] = data_.draw(
        st.one_of(ODD_VALUES, st.floats(0, 2), st.lists(st.integers(-1, 5), max_size=3))
    )
    opt = optim.SGD(fresh_parameters(), lr=0.1)
    names = (argument, "learning rate")
    schedule = attempt(getattr(lr_scheduler, name), opt, **kwargs, names=names)
    if schedule is None:
        return
    for k in range(12):
        if name == "ReduceLROnPlateau":
            metric = data_.draw(
                st.one_of(st.floats(allow_nan=True, allow_infinity=True), ODD_VALUES)
            )
            attempt(schedule.step, metric, names=("metric",))
        else:
            attempt(schedule.step, names=names)
        lr = opt.param_groups[0]["lr"]
        assert isinstance(lr, float) and lr >= 0 and math.isfinite(lr), (k, lr)
    attempt(schedule.load_state_dict, schedule.state_dict(), names=names)


# -------------------------------------------------------------------------- data


@given(st.lists(arrays(max_dims=3), min_size=0, max_size=3), st.data())
def test_datasets_and_loaders_batch_every_sample_once_or_refuse(fields, data_):
    dataset = attempt(data.TensorDataset, *fields, names=("TensorDataset", "array", *INPUT_WORDS))
    if dataset is None:
        return
    n = len(dataset)
    indices = data_.draw(st.one_of(st.lists(st.integers(-2, n + 2), max_size=5), ODD_VALUES))
    subset = attempt(data.Subset, dataset, indices, names=("indices",))
    if subset is not None:
        assert len(subset) == len(indices)
    batch_size = data_.draw(st.one_of(st.integers(1, 5), ODD_VALUES))
    shuffle, drop_last = data_.draw(st.booleans()), data_.draw(st.booleans())
    transform = data_.draw(st.sampled_from([None, lambda x: x * 2, "flip"]))
    loader = attempt(
        data.DataLoader,
        dataset,
        batch_size,
        shuffle,
        drop_last,
        transform,
        names=("batch_size", "transform", "drop_last", "dataset", "empty"),
    )
    if loader is None:
        return
    batches = attempt(list, loader, names=("transform", *INPUT_WORDS))
    if batches is None:
        return
    assert len(batches) == len(loader)
    seen = sum(len(batch[0]) for batch in batches)
    assert seen == (n // batch_size * batch_size if drop_last else n)


@given(
    st.one_of(ODD_VALUES, st.just(object()), st.just([1, 2, 3])),
    st.one_of(st.integers(1, 3), ODD_VALUES),
)
def test_a_loader_over_something_that_is_not_a_dataset_refuses(dataset, batch_size):
    refuses(data.DataLoader, dataset, batch_size, names=("dataset", "batch_size"))


TRANSFORMS = {
    "RandomTranslation": dict(max_shift=1, fill=0.0),
    "RandomRotation": dict(degrees=10.0, fill=0.0),
    "RandomScaling": dict(scale=(0.9, 1.1), fill=0.0),
    "RandomShear": dict(degrees=10.0, fill=0.0),
    "ElasticDistortion": dict(alpha=8.0, sigma=3.0, fill=0.0),
    "RandomHorizontalFlip": dict(p=0.5),
    "GaussianNoise": dict(std=0.1),
    "BrightnessContrast": dict(brightness=0.2, contrast=0.2),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@given(data_=st.data())
def test_augmentations_keep_shape_and_dtype_or_refuse(name, data_):
    kwargs = dict(TRANSFORMS[name])
    argument = data_.draw(st.sampled_from([*kwargs, "generator", None]))
    if argument is not None:
        kwargs[argument] = data_.draw(st.one_of(ODD_VALUES, st.floats(0, 0.9), st.just((0.5, 2.0))))
    transform = attempt(getattr(transforms, name), **kwargs, names=(argument,))
    if transform is None:
        return
    images = data_.draw(
        st.one_of(
            arrays(FLOAT_DTYPES, min_dims=3, max_dims=4, max_side=6, finite=True),
            arrays(min_dims=0, max_dims=5, max_side=4),
        )
    )
    out = attempt(transform, images, names=(name, "images", *INPUT_WORDS))
    if out is None:
        return
    assert out.shape == images.shape and out.dtype == images.dtype
    if np.abs(images).max(initial=0) < 1e3 and argument in (None, "generator"):
        assert np.isfinite(out).all()
    repr(transform)


@given(arrays(max_dims=4), arrays(max_dims=2), st.data())
def test_preprocessing_scales_standardises_and_encodes_or_refuses(x, labels, data_):
    input_range = data_.draw(st.one_of(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), ODD_VALUES))
    out = attempt(data.scale_to_unit, x, input_range, names=("input_range", *INPUT_WORDS))
    if out is not None:
        assert out.shape == x.shape and out.dtype == np.float32
    axis = data_.draw(st.one_of(st.none(), st.integers(-4, 4), ODD_VALUES))
    result = attempt(
        data.standardize, x, None, None, axis, names=("axis", "mean", "std", *INPUT_WORDS)
    )
    if result is not None:
        standardized, (_, std) = result
        assert standardized.shape == x.shape
        assert (std > 0).all() or np.isnan(std).any()
    num_classes = data_.draw(st.one_of(st.integers(-1, 20), ODD_VALUES))
    encoded = attempt(data.one_hot, labels, num_classes, names=("num_classes", "labels"))
    if encoded is not None:
        assert encoded.shape == (*labels.shape, num_classes)
        assert (encoded.sum(axis=-1) == 1).all()
    y = data_.draw(arrays(max_dims=2))
    expanded = attempt(
        transforms.expand_by_shifts, x, y, names=("expand_by_shifts", "labels", *INPUT_WORDS)
    )
    if expanded is not None:
        assert expanded[0].shape == (5 * len(x), *x.shape[1:]) and len(expanded[1]) == 5 * len(x)


@given(
    arrays(max_dims=2, max_side=12),
    st.data(),
)
def test_splits_partition_the_samples_or_refuse(x, data_):
    n = len(x) if x.ndim else 0
    ratios = data_.draw(
        st.one_of(
            st.just((0.6, 0.2, 0.2)),
            st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
            ODD_VALUES,
        )
    )
    stratify = data_.draw(
        st.one_of(st.none(), hnp.arrays(np.int64, (n,), elements=st.integers(0, 2)), ODD_VALUES)
    )
    seed = data_.draw(st.one_of(st.none(), st.integers(0, 5), ODD_VALUES))
    names = ("ratios", "stratify", "seed", "arrays", *INPUT_WORDS)
    parts = attempt(
        model_selection.train_val_test_split,
        x,
        ratios=ratios,
        stratify=stratify,
        seed=seed,
        names=names,
    )
    if parts is not None:
        assert sum(len(p) for p in parts) == n
    n_splits = data_.draw(st.one_of(st.integers(-1, 6), ODD_VALUES))
    for cls in (model_selection.KFold, model_selection.StratifiedKFold):
        folds = attempt(
            cls,
            n_splits,
            shuffle=data_.draw(st.booleans()),
            seed=seed,
            names=("n_splits", "seed", "shuffle"),
        )
        if folds is None:
            continue
        labels = stratify if cls is model_selection.StratifiedKFold else None
        splits = attempt(
            list,
            folds.split(x, labels),
            names=("n_splits", "x", "y", "samples", "class", *INPUT_WORDS),
        )
        if splits is not None:
            validation = np.sort(np.concatenate([v for _, v in splits]))
            np.testing.assert_array_equal(validation, np.arange(n))


@given(
    arrays(max_dims=3, max_side=5),
    arrays(max_dims=2, max_side=5),
    st.one_of(st.integers(-1, 6), ODD_VALUES),
)
def test_metrics_are_fractions_and_counts_or_refuse(outputs, targets, k):
    names = ("outputs", "targets", "k", "num_classes", *INPUT_WORDS)
    for metric in (metrics.accuracy, lambda o, t: metrics.top_k_accuracy(o, t, k)):
        value = attempt(metric, outputs, targets, names=names)
        if value is not None:
            assert 0 <= value <= 1 or math.isnan(value)
    matrix = attempt(metrics.confusion_matrix, outputs, targets, names=names)
    if matrix is not None:
        assert matrix.sum() == len(outputs)


@given(arrays(), st.one_of(st.none(), st.integers(-5, 5), ODD_VALUES))
def test_any_all_and_isfinite_match_numpy_or_refuse(array, axis):
    for name in ("any", "all"):
        out = attempt(getattr(F, name), tensor(array), axis, names=("axis", name, *INPUT_WORDS))
        if out is not None:
            np.testing.assert_array_equal(out.numpy(), getattr(np, name)(array, axis=axis))
    np.testing.assert_array_equal(F.isfinite(tensor(array)).numpy(), np.isfinite(array))


@given(st.one_of(arrays(), ODD_VALUES), st.one_of(st.booleans(), ODD_VALUES))
def test_parameters_are_floating_leaves_or_refuse(value, requires_grad):
    p = attempt(
        nn.Parameter, value, requires_grad, names=("Parameter", "requires_grad", *INPUT_WORDS)
    )
    if p is not None:
        assert p.is_leaf and (p.dtype.kind == "f" or not p.requires_grad)


@given(st.data())
def test_toy_datasets_have_the_asked_for_size_or_refuse(data_):
    n = data_.draw(st.one_of(st.integers(-1, 50), ODD_VALUES))
    value = data_.draw(st.one_of(st.floats(0, 2), ODD_VALUES, arrays(max_dims=2, max_side=3)))
    spirals = attempt(data.make_spirals, n, noise=value, names=("n_samples", "noise"))
    if spirals is not None:
        assert spirals[0].shape == (n, 2) and spirals[1].shape == (n,)
    turns = attempt(data.make_spirals, 20, n_turns=value, names=("n_turns",))
    if turns is not None:
        assert np.isfinite(turns[0]).all()
    centers = data_.draw(
        st.one_of(st.integers(-1, 4), arrays(FLOAT_DTYPES, max_dims=3, max_side=3), ODD_VALUES)
    )
    blobs = attempt(data.make_blobs, 12, centers, value, names=("centers", "std", "n_samples"))
    if blobs is not None:
        assert len(blobs[0]) == len(blobs[1]) == 12


@given(st.binary(max_size=64), st.one_of(st.none(), st.integers(0, 4)))
def test_idx_parsing_refuses_anything_malformed(raw, ndim):
    out = attempt(data.mnist.parse_idx, raw, "file.idx", ndim, names=("file.idx",))
    if out is not None:
        assert out.ndim == raw[3]
