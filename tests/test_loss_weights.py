"""Weighted losses: per-class ``weight`` as PyTorch defines it, per-sample ``sample_weight``
on every loss, gradchecked in float64, and an integer weight equal to repeating the sample."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentError, ShapeError

rng = np.random.default_rng(5)
REDUCTIONS = ["mean", "sum", "none"]
N, C = 6, 4


def logits_and_labels():
    return rng.standard_normal((N, C)), rng.integers(0, C, N)


def soft_targets():
    """Rows that do not sum to 1, so the gradient's sum_c a_c term is exercised."""
    return rng.uniform(0.05, 1.0, (N, C))


CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
SAMPLE_WEIGHT = np.array([1.0, 0.0, 2.5, 1.0, 3.0, 0.5])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_weighted_cross_entropy_gradcheck(reduction, smoothing, targets):
    z, labels = logits_and_labels()
    target = labels if targets == "labels" else soft_targets()
    for weight, sample_weight in [
        (CLASS_WEIGHT, None),
        (None, SAMPLE_WEIGHT),
        (CLASS_WEIGHT, SAMPLE_WEIGHT),
    ]:
        cr.gradcheck(
            lambda a, w=weight, sw=sample_weight: F.cross_entropy(
                a, target, reduction, smoothing, w, sw
            ),
            [z],
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_nll_gradcheck(reduction):
    z, labels = logits_and_labels()
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    for weight, sample_weight in [
        (CLASS_WEIGHT, None),
        (None, SAMPLE_WEIGHT),
        (CLASS_WEIGHT, SAMPLE_WEIGHT),
    ]:
        cr.gradcheck(
            lambda a, w=weight, sw=sample_weight: F.nll_loss(a, labels, reduction, w, sw),
            [log_probs],
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(N,), (N, 3)], ids=str)
def test_sample_weighted_elementwise_losses_gradcheck(reduction, shape):
    x = rng.uniform(0.1, 0.9, shape)
    t = rng.uniform(0.0, 1.0, shape)
    t = np.where(np.abs(x - t) < 0.05, t + 0.1, t)  # keep l1 away from its kink
    for loss in (F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        cr.gradcheck(lambda a, b, loss=loss: loss(a, b, reduction, SAMPLE_WEIGHT), [x, t])


def test_weighted_mean_by_hand():
    x = np.array([[1.0], [3.0], [0.0]])
    t = np.zeros((3, 1))
    w = np.array([2.0, 1.0, 0.0])
    # (2 * 1 + 1 * 9 + 0) / (2 + 1 + 0)
    assert F.mse_loss(x, t, sample_weight=w).item() == pytest.approx(11 / 3)
    assert F.mse_loss(x, t, "sum", w).item() == pytest.approx(11.0)
    np.testing.assert_allclose(F.mse_loss(x, t, "none", w).numpy(), [[2.0], [9.0], [0.0]])
    # nll with class weights: -(w[t_n] * x[n, t_n]) summed, over sum_n w[t_n]
    log_p = np.log(np.array([[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]))
    labels = np.array([0, 1, 1])
    cw = np.array([1.0, 3.0])
    expected = -(1 * np.log(0.5) + 3 * np.log(0.75) + 3 * np.log(0.1)) / 7
    assert F.nll_loss(log_p, labels, weight=cw).item() == pytest.approx(expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_class_weights_match_pytorch(reduction, smoothing):
    torch = pytest.importorskip("torch")
    z, labels = logits_and_labels()
    soft = soft_targets()
    for target in (labels, soft):
        ours = cr.tensor(z, dtype=cr.float64, requires_grad=True)
        loss = F.cross_entropy(ours, target, reduction, smoothing, CLASS_WEIGHT)
        loss.sum().backward()
        theirs = torch.tensor(z, requires_grad=True)
        expected = torch.nn.functional.cross_entropy(
            theirs,
            torch.tensor(target),
            weight=torch.tensor(CLASS_WEIGHT),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        expected.sum().backward()
        np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-14)
    log_p = torch.log_softmax(torch.tensor(z), dim=1)
    expected = torch.nn.functional.nll_loss(
        log_p, torch.tensor(labels), weight=torch.tensor(CLASS_WEIGHT), reduction=reduction
    )
    ours = F.nll_loss(cr.tensor(log_p.numpy(), dtype=cr.float64), labels, reduction, CLASS_WEIGHT)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-12)
    module = nn.CrossEntropyLoss(
        weight=CLASS_WEIGHT, reduction=reduction, label_smoothing=smoothing
    )
    np.testing.assert_allclose(
        module(z, labels).numpy(),
        F.cross_entropy(z, labels, reduction, smoothing, CLASS_WEIGHT).numpy(),
    )


LOSSES = {
    "cross_entropy": lambda: (rng.standard_normal((N, C)), rng.integers(0, C, N)),
    "nll_loss": lambda: (np.log(rng.dirichlet(np.ones(C), N)), rng.integers(0, C, N)),
    "mse_loss": lambda: (rng.standard_normal((N, 2)), rng.standard_normal((N, 2))),
    "l1_loss": lambda: (rng.standard_normal((N, 2)), rng.standard_normal((N, 2))),
    "binary_cross_entropy": lambda: (rng.uniform(0.1, 0.9, (N, 1)), rng.uniform(0, 1, (N, 1))),
    "binary_cross_entropy_with_logits": lambda: (
        rng.standard_normal((N, 1)),
        rng.uniform(0, 1, (N, 1)),
    ),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_integer_weight_equals_repeating_the_sample_exactly(name):
    """Full-batch mean loss: weight k on a sample = k copies of it, value and gradient."""
    loss = getattr(F, name)
    x, t = LOSSES[name]()
    counts = np.array([0, 1, 3, 2, 1, 4])
    weighted = cr.tensor(x, dtype=cr.float64, requires_grad=True)
    value = loss(weighted, t, sample_weight=counts)
    value.backward()
    repeated = cr.tensor(np.repeat(x, counts, axis=0), dtype=cr.float64, requires_grad=True)
    expected = loss(repeated, np.repeat(t, counts, axis=0))
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-13)
    # the repeated copies' gradients, added up per original sample
    summed = np.zeros_like(x)
    np.add.at(summed, np.repeat(np.arange(N), counts), repeated.grad.numpy())
    np.testing.assert_allclose(weighted.grad.numpy(), summed, rtol=1e-12, atol=1e-15)


def test_weight_of_ones_changes_nothing():
    z, labels = logits_and_labels()
    plain = F.cross_entropy(z, labels).item()
    assert F.cross_entropy(z, labels, weight=np.ones(C)).item() == pytest.approx(plain, rel=1e-6)
    assert F.cross_entropy(z, labels, sample_weight=np.ones(N)).item() == pytest.approx(
        plain, rel=1e-6
    )


def test_weighted_losses_refuse_bad_weights_with_a_message():
    z, labels = logits_and_labels()
    with pytest.raises(ShapeError, match=r"sample_weight must have shape \(6,\).*got \(5,\)"):
        F.cross_entropy(z, labels, sample_weight=np.ones(5))
    with pytest.raises(ArgumentError, match="sample_weight must be finite and >= 0"):
        F.mse_loss(z, z, sample_weight=-np.ones(N))
    with pytest.raises(ShapeError, match=r"weight must have shape \(4,\).*got \(3,\)"):
        F.nll_loss(z, labels, weight=np.ones(3))
    with pytest.raises(ArgumentError, match="weight must be finite and >= 0"):
        F.cross_entropy(z, labels, weight=np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ArgumentError, match="CrossEntropyLoss: weight must be a non-empty vector"):
        nn.CrossEntropyLoss(weight=[[1.0, 2.0]])
