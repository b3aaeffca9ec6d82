"""Losses: gradients, values by hand, stability at extreme inputs, errors, and the modules."""

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentError, DTypeError, ShapeError

rng = np.random.default_rng(11)

REDUCTIONS = ["mean", "sum", "none"]


def probabilities(*shape):
    return rng.uniform(0.05, 0.95, shape)


def apart(*shape):
    """Input and target that differ by at least 0.2 everywhere (|x - t| has no kink)."""
    target = rng.standard_normal(shape)
    return target + rng.uniform(0.2, 1.0, shape) * rng.choice([-1.0, 1.0], shape), target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (4, 3)], ids=str)
def test_regression_loss_gradients_for_input_and_target(reduction, shape):
    x, t = apart(*shape)
    cr.gradcheck(lambda a, b: F.mse_loss(a, b, reduction), [x, t])
    cr.gradcheck(lambda a, b: F.l1_loss(a, b, reduction), [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_gradients_for_input_and_target(reduction):
    p, t = probabilities(4, 3), probabilities(4, 3)
    cr.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction), [p, t])
    z = rng.standard_normal((4, 3)) * 3
    cr.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction), [z, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradient(reduction):
    target = np.array([2, 0, 1, 2])
    cr.gradcheck(lambda x: F.nll_loss(x, target, reduction), [rng.standard_normal((4, 3))])
    cr.gradcheck(
        lambda z: F.nll_loss(F.log_softmax(z), target, reduction), [rng.standard_normal((4, 3))]
    )


# ------------------------------------------------------------- known values


def test_regression_losses_by_hand():
    x = cr.tensor([1.0, 2.0, 4.0], dtype="float64")
    t = cr.tensor([1.5, 2.0, 1.0], dtype="float64")
    assert F.mse_loss(x, t).item() == pytest.approx((0.25 + 0 + 9) / 3)
    assert F.mse_loss(x, t, "sum").item() == pytest.approx(9.25)
    np.testing.assert_allclose(F.l1_loss(x, t, "none").numpy(), [0.5, 0.0, 3.0])
    assert F.l1_loss(x, t).item() == pytest.approx(3.5 / 3)


def test_binary_cross_entropy_of_a_known_pair():
    loss = F.binary_cross_entropy(cr.tensor([0.8, 0.8]), cr.tensor([1.0, 0.0]), "none")
    np.testing.assert_allclose(loss.numpy(), [-math.log(0.8), -math.log(0.2)], rtol=1e-6)
    soft = F.binary_cross_entropy(cr.tensor([0.8]), cr.tensor([0.25]))
    assert soft.item() == pytest.approx(-(0.25 * math.log(0.8) + 0.75 * math.log(0.2)), rel=1e-6)


def test_bce_with_logits_equals_bce_of_the_sigmoid():
    z = cr.tensor(rng.standard_normal(6) * 2, dtype="float64")
    t = cr.tensor(probabilities(6), dtype="float64")
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(z, t, "none").numpy(),
        F.binary_cross_entropy(F.sigmoid(z), t, "none").numpy(),
        rtol=1e-12,
    )
    assert F.binary_cross_entropy_with_logits(cr.tensor([0.0]), cr.tensor([1.0])).item() == (
        pytest.approx(math.log(2))
    )


def test_nll_loss_picks_minus_the_target_log_probability():
    log_p = cr.tensor([[-0.1, -2.0, -3.0], [-1.0, -0.5, -4.0]])
    np.testing.assert_allclose(F.nll_loss(log_p, [0, 2], "none").numpy(), [0.1, 4.0], rtol=1e-6)
    assert F.nll_loss(log_p, [0, 2]).item() == pytest.approx(2.05)


def test_nll_of_log_softmax_is_cross_entropy():
    z = cr.tensor(rng.standard_normal((5, 4)), dtype="float64")
    target = np.array([3, 0, 1, 1, 2])
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(z), target).item(), F.cross_entropy(z, target).item()
    )


def test_label_smoothing_value_by_hand():
    z = cr.tensor([[2.0, 0.0, 0.0]], dtype="float64")
    log_p = np.array([2.0, 0.0, 0.0]) - math.log(math.exp(2) + 2)
    eps = 0.1
    smoothed = np.array([1 - eps + eps / 3, eps / 3, eps / 3])
    expected = -(smoothed * log_p).sum()
    assert F.cross_entropy(z, [0], label_smoothing=eps).item() == pytest.approx(expected)
    loss = nn.CrossEntropyLoss(label_smoothing=eps)(z, [0])
    assert loss.item() == pytest.approx(expected)


# ---------------------------------------------------------------- stability


def test_bce_with_logits_is_finite_and_exact_at_plus_minus_100():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = cr.tensor([100.0, -100.0, 100.0, -100.0], requires_grad=True)
        t = cr.tensor([1.0, 1.0, 0.0, 0.0])
        loss = F.binary_cross_entropy_with_logits(z, t, "none")
        np.testing.assert_allclose(loss.numpy(), [0.0, 100.0, 100.0, 0.0], atol=1e-30)
        loss.sum().backward()
        np.testing.assert_allclose(z.grad.numpy(), [0.0, -1.0, 1.0, 0.0], atol=1e-30)


def test_bce_floors_the_log_at_minus_100_as_pytorch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = cr.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
        loss = F.binary_cross_entropy(p, cr.tensor([1.0, 0.0, 0.0, 1.0]), "none")
        np.testing.assert_array_equal(np.abs(loss.numpy()), [100.0, 100.0, 0.0, 0.0])
        loss.sum().backward()
        assert np.all(np.isfinite(p.grad.numpy()))


def test_losses_keep_float32():
    x = cr.tensor(probabilities(4, 3), requires_grad=True)
    t = probabilities(4, 3)
    for loss in (F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        y = loss(x, t)
        assert y.dtype == cr.float32
    assert F.nll_loss(x, [0, 1, 2, 0]).dtype == cr.float32


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "loss",
    [F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits],
)
def test_target_shape_mismatch_names_both_shapes(loss):
    with pytest.raises(ShapeError, match=r"target of shape \(4, 1\).*input of shape \(4,\)"):
        loss(cr.full(4, 0.5), cr.full((4, 1), 0.5))


@pytest.mark.parametrize(
    "loss",
    [F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits],
)
def test_integer_tensor_target_is_a_dtype_error(loss):
    with pytest.raises(DTypeError, match="target must be floating point; got dtype int64"):
        loss(cr.full(3, 0.5), cr.tensor([0, 1, 1]))


def test_binary_cross_entropy_rejects_values_outside_zero_one():
    with pytest.raises(ArgumentError, match=r"input must lie in \[0, 1\].*with_logits"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), cr.tensor([0.0, 1.0]))
    with pytest.raises(ArgumentError, match=r"target must lie in \[0, 1\]; got values from -1"):
        F.binary_cross_entropy_with_logits(cr.tensor([0.5, 3.0]), cr.tensor([-1.0, 1.0]))


def test_nll_loss_errors_name_what_was_wrong():
    log_p = cr.randn(3, 4)
    with pytest.raises(ArgumentError, match=r"\[0, 4\); got values from 0 to 4"):
        F.nll_loss(log_p, [0, 4, 1])
    with pytest.raises(ArgumentError, match="from -1"):
        F.nll_loss(log_p, [0, -1, 1])
    with pytest.raises(DTypeError, match="integer class indices; got dtype float32"):
        F.nll_loss(log_p, [0.0, 1.0, 1.0])
    with pytest.raises(ShapeError, match=r"target of shape \(2,\).*\(3, 4\); expected \(3,\)"):
        F.nll_loss(log_p, [0, 1])
    with pytest.raises(ShapeError, match=r"\(N, C\).*\(4,\)"):
        F.nll_loss(cr.randn(4), [0])


def test_unknown_reduction_is_rejected():
    with pytest.raises(ArgumentError, match="reduction must be one of"):
        F.mse_loss(cr.ones(2), cr.ones(2), reduction="avg")
    with pytest.raises(ArgumentError, match="reduction"):
        nn.BCELoss(reduction="max")
    with pytest.raises(ArgumentError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)


# ------------------------------------------------------------------ modules


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_modules_compute_their_functions(reduction):
    p, t = cr.tensor(probabilities(4, 3)), cr.tensor(probabilities(4, 3))
    labels = cr.tensor([0, 2, 1, 1])
    pairs = [
        (nn.MSELoss, F.mse_loss, t),
        (nn.L1Loss, F.l1_loss, t),
        (nn.BCELoss, F.binary_cross_entropy, t),
        (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits, t),
        (nn.CrossEntropyLoss, F.cross_entropy, labels),
        (nn.NLLLoss, F.nll_loss, labels),
    ]
    for module, fn, target in pairs:
        criterion = module(reduction=reduction)
        assert repr(criterion) == f"{module.__name__}(reduction={reduction!r}" + (
            ", label_smoothing=0.0)" if module is nn.CrossEntropyLoss else ")"
        )
        np.testing.assert_array_equal(
            criterion(p, target).numpy(), fn(p, target, reduction=reduction).numpy()
        )


def test_torch_agrees_on_loss_values_and_gradients():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    p, t = probabilities(4, 3), probabilities(4, 3)
    z = rng.standard_normal((4, 3)) * 4
    labels = np.array([2, 0, 1, 2])
    cases = [
        (F.mse_loss, tf.mse_loss, p, t),
        (F.l1_loss, tf.l1_loss, p, t),
        (F.binary_cross_entropy, tf.binary_cross_entropy, p, t),
        (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, z, t),
        (F.nll_loss, tf.nll_loss, z, labels),
    ]
    for reduction in REDUCTIONS:
        for ours, theirs, x, target in cases:
            a = cr.tensor(x, dtype="float64", requires_grad=True)
            b = torch.tensor(x, requires_grad=True)
            la = ours(a, target, reduction=reduction)
            lb = theirs(b, torch.tensor(target), reduction=reduction)
            np.testing.assert_allclose(la.numpy(), lb.detach().numpy(), rtol=1e-10)
            upstream = np.ones(la.shape)
            la.backward(upstream)
            lb.backward(torch.tensor(upstream))
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-14)
    for smoothing in (0.0, 0.2):
        ours = F.cross_entropy(cr.tensor(z, dtype="float64"), labels, label_smoothing=smoothing)
        theirs = tf.cross_entropy(torch.tensor(z), torch.tensor(labels), label_smoothing=smoothing)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
