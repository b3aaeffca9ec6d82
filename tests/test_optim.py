"""Optimisers: trajectories against the published update rules, groups, state, errors, XOR."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError

# f(theta) = 1/2 theta^T A theta - b^T theta, A positive definite: grad = A theta - b.
_rng = np.random.default_rng(7)
_M = _rng.standard_normal((4, 4))
A = _M @ _M.T + 4 * np.eye(4)
B = _rng.standard_normal(4)
THETA0 = _rng.standard_normal(4)
STEPS = 8  # RAdam's rectified step starts at t = 6 with betas=(0.9, 0.9)


def grad_f(theta):
    return A @ theta - B


# ------------------------------------------------- the rules, written out in NumPy


def ref_sgd(lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    theta, v, path = THETA0.copy(), None, []
    for _ in range(STEPS):
        g = grad_f(theta) + weight_decay * theta
        if momentum:
            v = g.copy() if v is None else momentum * v + (1 - dampening) * g
            g = g + momentum * v if nesterov else v
        theta = theta - lr * g
        path.append(theta)
    return path


def ref_adagrad(lr=0.01, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
    theta, r, path = THETA0.copy(), np.full(4, initial_accumulator_value), []
    for _ in range(STEPS):
        g = grad_f(theta) + weight_decay * theta
        r = r + g * g
        theta = theta - lr * g / (np.sqrt(r) + eps)
        path.append(theta)
    return path


def ref_rmsprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    theta, r, m, buf, path = THETA0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
    for _ in range(STEPS):
        g = grad_f(theta) + weight_decay * theta
        r = alpha * r + (1 - alpha) * g * g
        m = alpha * m + (1 - alpha) * g
        denominator = (np.sqrt(r - m * m) if centered else np.sqrt(r)) + eps
        if momentum:
            buf = momentum * buf + g / denominator
            theta = theta - lr * buf
        else:
            theta = theta - lr * g / denominator
        path.append(theta)
    return path


def ref_adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    theta, r, u, path = THETA0.copy(), np.zeros(4), np.zeros(4), []
    for _ in range(STEPS):
        g = grad_f(theta) + weight_decay * theta
        r = rho * r + (1 - rho) * g * g
        dx = np.sqrt(u + eps) / np.sqrt(r + eps) * g
        u = rho * u + (1 - rho) * dx * dx
        theta = theta - lr * dx
        path.append(theta)
    return path


def ref_adam(
    lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False
):
    (b1, b2), theta, path = betas, THETA0.copy(), []
    s, r, r_max = np.zeros(4), np.zeros(4), np.zeros(4)
    for t in range(1, STEPS + 1):
        g = grad_f(theta)
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * g * g
        r_max = np.maximum(r_max, r)
        s_hat = s / (1 - b1**t)
        r_hat = (r_max if amsgrad else r) / (1 - b2**t)
        theta = theta - lr * s_hat / (np.sqrt(r_hat) + eps)
        path.append(theta)
    return path


def ref_adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    return ref_adam(lr, betas, eps, weight_decay, amsgrad, decoupled=True)


def ref_adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    (b1, b2), theta, s, u, path = betas, THETA0.copy(), np.zeros(4), np.zeros(4), []
    for t in range(1, STEPS + 1):
        g = grad_f(theta) + weight_decay * theta
        s = b1 * s + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        theta = theta - lr / (1 - b1**t) * s / u
        path.append(theta)
    return path


def ref_nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3):
    (b1, b2), theta, s, r, path = betas, THETA0.copy(), np.zeros(4), np.zeros(4), []
    mu_product = 1.0
    for t in range(1, STEPS + 1):
        g = grad_f(theta) + weight_decay * theta
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product *= mu_t
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * g * g
        denominator = np.sqrt(r / (1 - b2**t)) + eps
        theta = theta - lr * (1 - mu_t) / (1 - mu_product) * g / denominator
        theta = theta - lr * mu_next / (1 - mu_product * mu_next) * s / denominator
        path.append(theta)
    return path


def ref_radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    (b1, b2), theta, s, r, path = betas, THETA0.copy(), np.zeros(4), np.zeros(4), []
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, STEPS + 1):
        g = grad_f(theta) + weight_decay * theta
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * g * g
        s_hat = s / (1 - b1**t)
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > 5:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            theta = theta - lr * rect * s_hat * math.sqrt(1 - b2**t) / (np.sqrt(r) + eps)
        else:
            theta = theta - lr * s_hat
        path.append(theta)
    return path


def ref_rprop(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    """Riedmiller & Braun's Rprop, with PyTorch's rule of no move after a sign change."""
    (eta_minus, eta_plus), (low, high) = etas, step_sizes
    theta, prev, delta, path = THETA0.copy(), np.zeros(4), np.full(4, lr), []
    for _ in range(STEPS):
        g = grad_f(theta)
        for i in range(4):
            if g[i] * prev[i] > 0:
                delta[i] = min(delta[i] * eta_plus, high)
            elif g[i] * prev[i] < 0:
                delta[i] = max(delta[i] * eta_minus, low)
                g[i] = 0.0
        theta = theta - np.sign(g) * delta
        prev = g
        path.append(theta)
    return path


def ref_asgd(lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, averages=None):
    theta, eta, mu, ax, path = THETA0.copy(), lr, 1.0, np.zeros(4), []
    for t in range(1, STEPS + 1):
        g = grad_f(theta) + weight_decay * theta
        theta = theta * (1 - lambd * eta) - eta * g
        ax = theta.copy() if mu == 1 else ax + mu * (theta - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        path.append(theta)
    if averages is not None:
        averages.append(ax)
    return path


CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.05)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.5)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.5, weight_decay=0.3)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.5)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.5, weight_decay=0.3, initial_accumulator_value=0.1)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, centered=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, momentum=0.8, weight_decay=0.3)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.05, centered=True, momentum=0.8)),
    (optim.Adadelta, ref_adadelta, dict()),
    (optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.3)),
    (optim.Adam, ref_adam, dict(lr=0.2)),
    (optim.Adam, ref_adam, dict(lr=0.2, betas=(0.8, 0.9), weight_decay=0.3)),
    (optim.Adam, ref_adam, dict(lr=0.2, amsgrad=True)),
    (optim.AdamW, ref_adamw, dict(lr=0.2)),
    (optim.AdamW, ref_adamw, dict(lr=0.2, weight_decay=0.3, amsgrad=True)),
    (optim.Adamax, ref_adamax, dict(lr=0.2)),
    (optim.Adamax, ref_adamax, dict(lr=0.2, weight_decay=0.3)),
    (optim.NAdam, ref_nadam, dict(lr=0.2)),
    (optim.NAdam, ref_nadam, dict(lr=0.2, weight_decay=0.3, momentum_decay=0.1)),
    (optim.RAdam, ref_radam, dict(lr=0.2)),
    (optim.RAdam, ref_radam, dict(lr=0.2, betas=(0.9, 0.9), weight_decay=0.3)),
    (optim.Rprop, ref_rprop, dict(lr=0.05)),
    (optim.Rprop, ref_rprop, dict(lr=0.5, etas=(0.3, 1.5), step_sizes=(0.01, 0.6))),
    (optim.ASGD, ref_asgd, dict(lr=0.05)),
    (optim.ASGD, ref_asgd, dict(lr=0.05, lambd=0.1, alpha=1.5, t0=2, weight_decay=0.3)),
]
ALL_OPTIMIZERS = [
    optim.SGD,
    optim.Adagrad,
    optim.RMSprop,
    optim.Adadelta,
    optim.Adam,
    optim.AdamW,
    optim.Adamax,
    optim.NAdam,
    optim.RAdam,
    optim.Rprop,
    optim.ASGD,
]
# Every option that allocates extra state switched on.
FULL_OPTIONS = {
    optim.SGD: dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    optim.Adagrad: dict(lr=0.1, weight_decay=0.1),
    optim.RMSprop: dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    optim.Adadelta: dict(weight_decay=0.1),
    optim.Adam: dict(lr=0.01, amsgrad=True, weight_decay=0.1),
    optim.AdamW: dict(lr=0.01, amsgrad=True),
    optim.Adamax: dict(lr=0.01, weight_decay=0.1),
    optim.NAdam: dict(lr=0.01, weight_decay=0.1),
    optim.RAdam: dict(lr=0.01, weight_decay=0.1),
    optim.Rprop: dict(lr=0.01, etas=(0.4, 1.3)),
    optim.ASGD: dict(lr=0.01, t0=1, weight_decay=0.1),
}


def case_id(case):
    cls, _, kwargs = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_first_steps_match_the_published_rule(case):
    cls, reference, kwargs = case
    A_t, B_t = cr.tensor(A, dtype="float64"), cr.tensor(B, dtype="float64")
    theta = nn.Parameter(THETA0.copy(), dtype="float64")
    opt = cls([theta], **kwargs)
    for k, expected in enumerate(reference(**kwargs)):
        opt.zero_grad()
        loss = 0.5 * (theta @ (A_t @ theta)) - B_t @ theta
        loss.backward()
        opt.step()
        np.testing.assert_allclose(
            theta.numpy(), expected, rtol=0, atol=1e-6, err_msg=f"step {k + 1}"
        )
    assert np.abs(theta.numpy() - THETA0).max() > 1e-2  # the steps were not negligible


def test_asgd_exposes_the_averaged_parameters_and_swaps_them_in():
    kwargs = dict(lr=0.05, lambd=0.1, t0=2)
    averages = []
    ref_asgd(**kwargs, averages=averages)
    theta = nn.Parameter(THETA0.copy(), dtype="float64")
    opt = optim.ASGD([theta], **kwargs)
    assert np.array_equal(opt.averaged_parameters()[0].numpy(), THETA0)  # not stepped yet
    for _ in range(STEPS):
        theta.grad = cr.tensor(grad_f(theta.numpy()), dtype="float64")
        opt.step()
    (average,) = opt.averaged_parameters()
    np.testing.assert_allclose(average.numpy(), averages[0], rtol=0, atol=1e-12)
    last = theta.numpy().copy()
    opt.swap_averaged()
    np.testing.assert_allclose(theta.numpy(), averages[0], rtol=0, atol=1e-12)
    opt.swap_averaged()
    np.testing.assert_array_equal(theta.numpy(), last)


def test_rprop_and_asgd_refuse_options_out_of_range():
    w = nn.Parameter(np.ones(2))
    with pytest.raises(ArgumentError, match="etas"):
        optim.Rprop([w], etas=(1.2, 0.5))
    with pytest.raises(ArgumentError, match="step_sizes"):
        optim.Rprop([w], step_sizes=(1.0, 0.1))
    with pytest.raises(ArgumentError, match="lambd"):
        optim.ASGD([w], lambd=-1)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Rprop", dict(lr=0.05, etas=(0.4, 1.3), step_sizes=(1e-3, 0.3))),
        ("ASGD", dict(lr=0.05, lambd=0.1, t0=3, weight_decay=0.2)),
    ],
)
def test_rprop_and_asgd_step_as_pytorch_does(name, kwargs):
    torch = pytest.importorskip("torch", reason="comparing with PyTorch needs torch installed")
    theta = nn.Parameter(THETA0.copy(), dtype="float64")
    opt = getattr(optim, name)([theta], **kwargs)
    theta_t = torch.tensor(THETA0.copy(), requires_grad=True)
    opt_t = getattr(torch.optim, name)([theta_t], **kwargs)
    for k in range(12):
        theta.grad = cr.tensor(grad_f(theta.numpy()), dtype="float64")
        theta_t.grad = torch.tensor(grad_f(theta_t.detach().numpy()))
        opt.step()
        opt_t.step()
        # NOTE: torch keeps ASGD's eta as a float32 tensor: agreement to float32 rounding
        np.testing.assert_allclose(
            theta.numpy(), theta_t.detach().numpy(), rtol=1e-6, atol=1e-9, err_msg=f"step {k + 1}"
        )
    if name == "ASGD":
        np.testing.assert_allclose(
            opt.averaged_parameters()[0].numpy(), opt_t.state[theta_t]["ax"].numpy(), rtol=1e-6
        )


def test_sgd_momentum_is_the_lectures_velocity_form():
    """v <- alpha v - eps g; theta <- theta + v, with v_0 = 0, for constant eps."""
    eps, alpha = 0.05, 0.9
    theta = nn.Parameter(THETA0.copy(), dtype="float64")
    opt = optim.SGD([theta], lr=eps, momentum=alpha)
    lecture_theta, v = THETA0.copy(), np.zeros(4)
    for _ in range(STEPS):
        theta.grad = cr.tensor(grad_f(theta.numpy()), dtype="float64")
        opt.step()
        v = alpha * v - eps * grad_f(lecture_theta)
        lecture_theta = lecture_theta + v
        np.testing.assert_allclose(theta.numpy(), lecture_theta, rtol=0, atol=1e-12)


def test_parameter_groups_use_their_own_options():
    w = nn.Parameter(np.ones(3), dtype="float64")
    b = nn.Parameter(np.ones(2), dtype="float64")
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.01, "weight_decay": 1.0}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["momentum"] == 0.0  # filled from the defaults
    w.grad = cr.ones(3, dtype="float64")
    b.grad = cr.ones(2, dtype="float64")
    opt.step()
    np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 1)
    np.testing.assert_allclose(b.numpy(), 1 - 0.01 * (1 + 1.0 * 1))


def test_add_param_group_brings_a_new_parameter_under_the_optimiser():
    w, extra = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([w], lr=0.1)
    opt.add_param_group({"params": extra, "lr": 0.5})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    extra.grad = cr.ones(2)
    opt.step()
    np.testing.assert_allclose(extra.numpy(), 1 - 0.5, rtol=1e-5)
    with pytest.raises(ArgumentError, match="appears twice"):
        opt.add_param_group({"params": [w]})


def make_model_and_data():
    model = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    x, y = cr.randn(16, 3), cr.randn(16, 2)
    return model, x, y


def train(model, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def plain_values_only(value):
    if isinstance(value, dict):
        return all(plain_values_only(k) and plain_values_only(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain_values_only(v) for v in value)
    return isinstance(value, np.ndarray | bool | int | float | str) or value is None


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
def test_state_dict_round_trip_continues_training_exactly(cls):
    cr.manual_seed(3)
    model, x, y = make_model_and_data()
    start = model.state_dict()
    uninterrupted = cls(model.parameters(), **FULL_OPTIONS[cls])
    train(model, uninterrupted, x, y, 6)
    expected = model.state_dict()

    model.load_state_dict(start)
    first = cls(model.parameters(), **FULL_OPTIONS[cls])
    train(model, first, x, y, 3)
    saved_model, saved_opt = model.state_dict(), first.state_dict()
    assert plain_values_only(saved_opt)

    fresh = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    fresh.load_state_dict(saved_model)
    resumed = cls(fresh.parameters(), lr=0.123)  # options come from the state
    resumed.load_state_dict(saved_opt)
    train(fresh, resumed, x, y, 3)
    for name, value in fresh.state_dict().items():
        assert not np.array_equal(value, start[name])
        np.testing.assert_array_equal(value, expected[name])
    assert resumed.param_groups[0]["lr"] == first.param_groups[0]["lr"]


def test_state_dict_holds_copies_indexed_by_parameter_position():
    model, x, y = make_model_and_data()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, x, y, 1)
    state = opt.state_dict()
    assert sorted(state["state"]) == [0, 1, 2, 3]
    assert state["param_groups"][0]["params"] == [0, 1, 2, 3]
    state["state"][0]["momentum_buffer"][...] = 99.0
    first = next(iter(model.parameters()))
    assert not np.any(opt.state[first]["momentum_buffer"] == 99.0)


def test_load_state_dict_rejects_a_state_that_does_not_fit():
    model, x, y = make_model_and_data()
    opt = optim.Adam(model.parameters(), lr=0.1)
    train(model, opt, x, y, 1)
    state = opt.state_dict()

    two_groups = optim.Adam([{"params": [p]} for p in model.parameters()])
    with pytest.raises(ShapeError, match="1 parameter group"):
        two_groups.load_state_dict(state)
    fewer = optim.Adam(list(model.parameters())[:2])
    with pytest.raises(ShapeError, match="4 parameters in the state and 2 here"):
        fewer.load_state_dict(state)
    other = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2))
    misshapen = optim.Adam(other.parameters())
    with pytest.raises(ShapeError, match="shape"):
        misshapen.load_state_dict(state)
    assert misshapen.state == {}  # nothing was half-loaded
    with pytest.raises(ArgumentError, match="another optimiser"):
        optim.SGD(model.parameters()).load_state_dict(state)


def test_frozen_parameters_and_parameters_without_grad_are_left_alone():
    frozen = nn.Parameter(np.ones(3), requires_grad=False)
    frozen.grad = cr.ones(3)
    no_grad_yet = nn.Parameter(np.ones(3))
    trained = nn.Parameter(np.ones(3))
    trained.grad = cr.ones(3)
    opt = optim.Adam([frozen, no_grad_yet, trained], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(frozen.numpy(), np.ones(3))
    np.testing.assert_array_equal(no_grad_yet.numpy(), np.ones(3))
    assert not np.allclose(trained.numpy(), np.ones(3))
    assert not opt.state.get(frozen) and not opt.state.get(no_grad_yet)


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
def test_float32_parameters_and_state_stay_float32(cls):
    w = nn.Parameter(cr.randn(3, 2))
    opt = cls([w], **FULL_OPTIONS[cls])
    for _ in range(3):
        w.grad = cr.randn(3, 2)
        opt.step()
    assert w.dtype == np.float32
    arrays = [v for v in opt.state[w].values() if hasattr(v, "dtype")]
    assert arrays and all(a.dtype == np.float32 for a in arrays)


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
def test_step_updates_in_place_and_never_touches_the_gradient(cls):
    w = nn.Parameter(cr.randn(4))
    data = w.data
    grad = cr.randn(4)
    w.grad = grad
    before = grad.numpy().copy()
    opt = cls([w], **FULL_OPTIONS[cls])
    opt.step()
    opt.step()
    assert w.data is data
    assert w.grad is grad
    np.testing.assert_array_equal(grad.numpy(), before)


def test_zero_grad_sets_every_gradient_to_none():
    model, x, y = make_model_and_data()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ((model(x) - y) ** 2).mean().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_step_returns_the_loss_of_its_closure():
    model, x, y = make_model_and_data()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    assert opt.step(closure).item() < first


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda w: optim.SGD([w], lr=-0.1),
            ArgumentError,
            "lr must be a non-negative number; got lr=-0.1",
        ),
        (
            lambda w: optim.SGD([w], momentum=1.0),
            ArgumentError,
            r"momentum must be a number in \[0, 1\)",
        ),
        (lambda w: optim.SGD([w], momentum=-0.5), ArgumentError, "momentum"),
        (
            lambda w: optim.SGD([w], nesterov=True),
            ArgumentError,
            "nesterov=True needs momentum > 0",
        ),
        (
            lambda w: optim.SGD([w], momentum=0.9, dampening=0.1, nesterov=True),
            ArgumentError,
            "dampening = 0",
        ),
        (lambda w: optim.SGD([w], weight_decay=-1), ArgumentError, "weight_decay"),
        (
            lambda w: optim.Adam([w], betas=(0.9, 1.0)),
            ArgumentError,
            r"betas must be a pair of numbers in \[0, 1\)",
        ),
        (lambda w: optim.Adam([w], betas=0.9), ArgumentError, "betas"),
        (lambda w: optim.Adam([w], eps=0.0), ArgumentError, "eps must be a positive number"),
        (
            lambda w: optim.Adam([w], amsgrad="yes"),
            ArgumentTypeError,
            "amsgrad must be True or False",
        ),
        (lambda w: optim.RMSprop([w], alpha=1.5), ArgumentError, "alpha"),
        (lambda w: optim.Adadelta([w], rho=-0.1), ArgumentError, "rho"),
        (lambda w: optim.SGD([w], lr=float("nan")), ArgumentError, "lr"),
        (lambda w: optim.SGD([w, np.ones(3)]), ArgumentTypeError, "got a ndarray in params"),
        (lambda w: optim.SGD(w), ArgumentTypeError, "wrap it in a list|iterable of Parameters"),
        (lambda w: optim.SGD([]), ArgumentError, "empty parameter list"),
        (lambda w: optim.SGD([w, w]), ArgumentError, "appears twice"),
        (lambda w: optim.SGD([{"params": [w]}, {"params": [w]}]), ArgumentError, "appears twice"),
        (lambda w: optim.SGD([{"params": [w], "momentun": 0.9}]), ArgumentError, "unknown option"),
        (lambda w: optim.SGD([w * 2]), ArgumentError, "leaf"),
        (lambda w: optim.SGD([cr.tensor([1, 2])]), ArgumentTypeError, "floating-point"),
    ],
)
def test_invalid_arguments_raise_errors_that_say_what_was_wrong(make, error, message):
    w = nn.Parameter(np.ones(3))
    with pytest.raises(error, match=message):
        make(w)


class XorNet(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.hidden = nn.Linear(2, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.out(cr.relu(self.hidden(x)))


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda p: optim.Adam(p, lr=0.05), lambda p: optim.SGD(p, lr=0.1, momentum=0.9)],
    ids=["Adam", "SGD-momentum"],
)
def test_xor_is_learned_from_random_initialisation(make_optimizer):
    """The lecture's XOR with 16 ReLU units (with 2, most initialisations get stuck)."""
    cr.manual_seed(1)
    x = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([[0], [1], [1], [0]], dtype="float32")
    model = XorNet(hidden=16)
    opt = make_optimizer(model.parameters())
    for _ in range(500):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    np.testing.assert_allclose(model(x).numpy(), y.numpy(), atol=0.1)
