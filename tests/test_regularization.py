"""Weight penalties, the max-norm constraint and gradient clipping."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.nn.regularization import regularized_parameters


class Net(nn.Module):
    """A Linear pair, a conv-shaped weight, batch-norm-like gamma/beta and a frozen weight."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)
        self.conv_weight = nn.Parameter(cr.randn(2, 3, 3, 3))
        self.gamma = nn.Parameter(cr.ones(4))
        self.beta = nn.Parameter(cr.zeros(4))
        self.frozen = nn.Parameter(cr.randn(2, 2), requires_grad=False)


def weights(net):
    return [net.fc1.weight.numpy(), net.fc2.weight.numpy(), net.conv_weight.numpy()]


def test_penalties_apply_to_weights_and_skip_biases_gamma_beta_and_frozen_ones():
    net = Net()
    chosen = {id(p) for p in regularized_parameters(net)}
    assert chosen == {id(net.fc1.weight), id(net.fc2.weight), id(net.conv_weight)}


def test_l1_and_l2_penalties_equal_the_lectures_formulas():
    net = Net()
    lam = 0.3
    l1 = nn.l1_penalty(net, lam)
    l2 = nn.l2_penalty(net, lam)
    assert l1.shape == () and l2.shape == ()
    assert l1.item() == pytest.approx(lam * sum(np.abs(w).sum() for w in weights(net)), rel=1e-6)
    assert l2.item() == pytest.approx(lam / 2 * sum((w**2).sum() for w in weights(net)), rel=1e-6)
    assert l2.dtype == np.float32


def test_gradient_of_l2_penalty_is_lam_times_w_and_nothing_for_biases():
    net = Net()
    nn.l2_penalty(net, 0.3).backward()
    np.testing.assert_allclose(net.fc1.weight.grad.numpy(), 0.3 * net.fc1.weight.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        net.conv_weight.grad.numpy(), 0.3 * net.conv_weight.numpy(), rtol=1e-6
    )
    assert net.fc1.bias.grad is None and net.gamma.grad is None and net.beta.grad is None


def test_gradient_of_l1_penalty_is_lam_times_sign_of_w():
    net = Net()
    nn.l1_penalty(net, 0.3).backward()
    np.testing.assert_allclose(net.fc2.weight.grad.numpy(), 0.3 * np.sign(net.fc2.weight.numpy()))


def test_l2_penalty_with_sgd_is_weight_decay_on_the_weights():
    x, y = cr.randn(8, 3), cr.randn(8, 2)
    cr.manual_seed(5)
    penalised = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    cr.manual_seed(5)
    decayed = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    weight_params = [m.weight for m in decayed.children()]
    bias_params = [m.bias for m in decayed.children()]
    opt_penalty = optim.SGD(penalised.parameters(), lr=0.1)
    opt_decay = optim.SGD(
        [{"params": weight_params, "weight_decay": 0.2}, {"params": bias_params}], lr=0.1
    )
    for _ in range(3):
        for model, opt, penalty in ((penalised, opt_penalty, 0.2), (decayed, opt_decay, 0.0)):
            opt.zero_grad()
            (((model(x) - y) ** 2).mean() + nn.l2_penalty(model, penalty)).backward()
            opt.step()
    for a, b in zip(penalised.parameters(), decayed.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_l1l2_adds_both_penalties_and_is_zero_by_default():
    net = Net()
    combined = nn.L1L2(l1=0.1, l2=0.2)(net)
    expected = nn.l1_penalty(net, 0.1).item() + nn.l2_penalty(net, 0.2).item()
    assert combined.item() == pytest.approx(expected, rel=1e-6)
    assert nn.L1L2()(net).item() == 0.0


def test_max_norm_bounds_each_incoming_vector_and_leaves_small_ones_alone():
    layer = nn.Linear(3, 4)
    rows = np.array([[3.0, 4.0, 0.0], [0.1, 0.2, 0.2], [10.0, 0.0, 0.0], [1.2, 1.6, 0.0]])
    layer.weight.data[...] = rows
    layer.bias.data[...] = 100.0
    nn.max_norm_(layer, 2.0)
    after = layer.weight.numpy()
    norms = np.linalg.norm(after, axis=1)
    assert np.all(norms <= 2.0 + 1e-6)
    np.testing.assert_array_equal(after[1], rows[1].astype(np.float32))  # within: untouched
    np.testing.assert_array_equal(after[3], rows[3].astype(np.float32))  # norm exactly 2
    np.testing.assert_allclose(after[0], rows[0] / 5 * 2, rtol=1e-6)  # same direction
    np.testing.assert_allclose(after[2], [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(layer.bias.numpy(), 100.0)


def test_max_norm_constrains_each_conv_filter_as_a_whole():
    net = Net()
    net.conv_weight.data[...] = 1.0  # each filter has norm sqrt(27)
    nn.MaxNorm(3.0)(net)
    filter_norms = np.sqrt((net.conv_weight.numpy() ** 2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(filter_norms, [3.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(net.conv_weight.numpy(), 3.0 / math.sqrt(27), rtol=1e-6)


def test_max_norm_takes_parameters_and_an_axis():
    w = nn.Parameter(np.array([[3.0, 0.1], [4.0, 0.1]]))
    nn.max_norm_([w], 1.0, axis=0)  # columns, as in Keras' (in, out) layout
    np.testing.assert_allclose(
        np.linalg.norm(w.numpy(), axis=0), [1.0, math.hypot(0.1, 0.1)], rtol=1e-6
    )
    with pytest.raises(ShapeError, match="axis=2"):
        nn.max_norm_(w, 1.0, axis=2)


def grads_of(params):
    return [p.grad.numpy() for p in params]


def with_grads(*arrays):
    params = []
    for array in arrays:
        p = nn.Parameter(np.zeros_like(array))
        p.grad = cr.tensor(array)
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_to_max_norm_and_returns_the_norm_before():
    params = with_grads(np.array([3.0, 0.0]), np.array([[0.0, 4.0], [0.0, 12.0]]))
    originals = [p.grad for p in params]
    total = nn.clip_grad_norm_(params, max_norm=6.5)
    assert total == pytest.approx(13.0)
    clipped = np.concatenate([g.ravel() for g in grads_of(params)])
    assert np.linalg.norm(clipped) == pytest.approx(6.5, rel=1e-5)
    np.testing.assert_allclose(clipped, np.array([3.0, 0, 0, 4, 0, 12]) / 2, rtol=1e-5)
    assert all(p.grad is not g for p, g in zip(params, originals))  # new tensors...
    np.testing.assert_array_equal(originals[0].numpy(), [3.0, 0.0])  # ...the old ones unchanged
    assert params[0].grad.dtype == np.float32


def test_clip_grad_norm_leaves_small_gradients_and_supports_the_max_norm():
    params = with_grads(np.array([0.3, -0.4]))
    before = params[0].grad
    assert nn.clip_grad_norm_(params, max_norm=1.0) == pytest.approx(0.5)
    assert params[0].grad is before
    params = with_grads(np.array([1.0, -5.0]), np.array([2.0]))
    assert nn.clip_grad_norm_(params, max_norm=1.0, norm_type=math.inf) == pytest.approx(5.0)
    assert max(np.abs(g).max() for g in grads_of(params)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_value_clips_each_element_into_a_new_tensor():
    params = with_grads(np.array([-3.0, 0.5, 2.0]))
    original = params[0].grad
    nn.clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(original.numpy(), [-3.0, 0.5, 2.0])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda net: nn.l2_penalty(net, -1.0), ArgumentError, "lam must be a non-negative number"),
        (lambda net: nn.l1_penalty(net.parameters(), 0.1), ArgumentTypeError, "expected a Module"),
        (lambda net: nn.L1L2(l2=float("nan")), ArgumentError, "lam"),
        (lambda net: nn.max_norm_(net, 0.0), ArgumentError, "max_value must be a positive"),
        (lambda net: nn.MaxNorm(-1), ArgumentError, "max_value"),
        (lambda net: nn.max_norm_([1.0], 1.0), ArgumentTypeError, "got a float"),
        (lambda net: nn.clip_grad_norm_(net.parameters(), 0), ArgumentError, "max_norm"),
        (
            lambda net: nn.clip_grad_norm_(net.parameters(), 1, norm_type=-2),
            ArgumentError,
            "norm_type",
        ),
        (lambda net: nn.clip_grad_value_(net.parameters(), -1), ArgumentError, "clip_value"),
    ],
)
def test_invalid_arguments_raise_errors_that_say_what_was_wrong(call, error, message):
    with pytest.raises(error, match=message):
        call(Net())
