"""L-BFGS and damped Newton: against their published algorithms, against PyTorch, and
from fit, experiment files and the estimators."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError, GraphError

rng = np.random.default_rng(11)
_M = rng.standard_normal((5, 5))
A = _M @ _M.T + 0.5 * np.eye(5)  # positive definite, condition number in the hundreds
B = rng.standard_normal(5)
X0 = rng.standard_normal(5)


def quadratic_problem(dtype="float64"):
    theta = nn.Parameter(X0.copy(), dtype=dtype)
    a, b = cr.tensor(A, dtype=dtype), cr.tensor(B, dtype=dtype)

    def loss_fn():
        return 0.5 * (theta @ (a @ theta)) - b @ theta

    return theta, loss_fn


def closure_for(opt, loss_fn, create_graph=False):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward(create_graph=create_graph)
        return loss

    return closure


# ------------------------------------------------------------------------ L-BFGS


def test_lbfgs_first_step_is_the_scaled_gradient_step():
    theta, loss_fn = quadratic_problem()
    opt = optim.LBFGS([theta], lr=0.5, max_iter=1)
    opt.step(closure_for(opt, loss_fn))
    g = A @ X0 - B
    expected = X0 - min(1.0, 1.0 / np.abs(g).sum()) * 0.5 * g
    np.testing.assert_allclose(theta.numpy(), expected, rtol=0, atol=1e-14)


def test_lbfgs_direction_is_the_bfgs_inverse_hessian_times_the_gradient():
    """The two-loop recursion equals H_k g with H_k from the explicit BFGS update
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T from H_0 = (y.s / y.y) I
    (Nocedal & Wright, eq. 6.17 and 7.20)."""
    theta, loss_fn = quadratic_problem()
    opt = optim.LBFGS([theta], lr=0.3, max_iter=4, history_size=10)
    opt.step(closure_for(opt, loss_fn))
    state = opt.state[theta]
    pairs = list(zip(state["old_stps"], state["old_dirs"]))
    assert len(pairs) == 3  # one pair per iteration after the first
    s_last, y_last = pairs[-1]
    h = (y_last @ s_last) / (y_last @ y_last) * np.eye(5)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        h = (np.eye(5) - rho * np.outer(s, y)) @ h @ (np.eye(5) - rho * np.outer(y, s))
        h += rho * np.outer(s, s)
    g = state["prev_flat_grad"]
    np.testing.assert_allclose(state["d"], -h @ g, rtol=1e-10, atol=1e-12)


def test_lbfgs_with_strong_wolfe_minimises_a_quadratic_in_a_few_iterations():
    theta, loss_fn = quadratic_problem()
    opt = optim.LBFGS(
        [theta], max_iter=50, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
        tolerance_change=1e-15,
    )  # fmt: skip
    opt.step(closure_for(opt, loss_fn))
    np.testing.assert_allclose(theta.numpy(), np.linalg.solve(A, B), rtol=1e-6, atol=1e-8)
    assert opt.state[theta]["n_iter"] <= 15


def _logistic_setup(lib_torch=None):
    data_rng = np.random.default_rng(3)
    x = data_rng.standard_normal((40, 4))
    y = (x @ data_rng.standard_normal(4) + 0.3 * data_rng.standard_normal(40) > 0).astype(np.int64)
    w0 = data_rng.standard_normal((2, 4)) * 0.1
    return x, y, w0


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_steps_as_pytorch_does(line_search_fn):
    torch = pytest.importorskip("torch", reason="comparing with PyTorch needs torch installed")
    x, y, w0 = _logistic_setup()
    options = dict(lr=0.8, max_iter=4, history_size=3, line_search_fn=line_search_fn)
    w, b = nn.Parameter(w0.copy(), dtype="float64"), nn.Parameter(np.zeros(2), dtype="float64")
    opt = optim.LBFGS([w, b], **options)
    w_t = torch.tensor(w0.copy(), requires_grad=True)
    b_t = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt_t = torch.optim.LBFGS([w_t, b_t], **options)
    x_c, x_t, y_t = cr.tensor(x, dtype="float64"), torch.tensor(x), torch.tensor(y)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(x_c, w, b), y)
        loss.backward()
        return loss

    def closure_t():
        opt_t.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_t @ w_t.T + b_t, y_t)
        loss.backward()
        return loss

    for k in range(5):
        loss, loss_t = opt.step(closure), opt_t.step(closure_t)
        assert float(loss.item()) == pytest.approx(float(loss_t.detach()), rel=1e-9)
        np.testing.assert_allclose(w.numpy(), w_t.detach().numpy(), rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(b.numpy(), b_t.detach().numpy(), rtol=1e-7, atol=1e-10)
        assert opt.state[w]["func_evals"] == opt_t.state[w_t]["func_evals"], f"step {k}"


def test_lbfgs_state_dict_resumes_exactly():
    x, y, w0 = _logistic_setup()
    x_c = cr.tensor(x, dtype="float64")

    def run(w, opt, steps):
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(x_c @ w.T, y)
            loss.backward()
            return loss

        for _ in range(steps):
            opt.step(closure)

    w = nn.Parameter(w0.copy(), dtype="float64")
    run(w, optim.LBFGS([w], max_iter=3, history_size=4, line_search_fn="strong_wolfe"), 4)
    expected = w.numpy().copy()

    w = nn.Parameter(w0.copy(), dtype="float64")
    first = optim.LBFGS([w], max_iter=3, history_size=4, line_search_fn="strong_wolfe")
    run(w, first, 2)
    saved = first.state_dict()
    assert isinstance(saved["state"][0]["old_dirs"], np.ndarray)
    w2 = nn.Parameter(w.numpy().copy(), dtype="float64")
    resumed = optim.LBFGS([w2])
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["history_size"] == 4
    run(w2, resumed, 2)
    np.testing.assert_array_equal(w2.numpy(), expected)


def test_lbfgs_refuses_a_step_without_closure_and_bad_options():
    w = nn.Parameter(np.ones(2))
    with pytest.raises(ArgumentTypeError, match="closure"):
        optim.LBFGS([w]).step()
    with pytest.raises(ArgumentError, match="line_search_fn"):
        optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ArgumentError, match="history_size"):
        optim.LBFGS([w], history_size=0)
    with pytest.raises(ArgumentError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [nn.Parameter(np.ones(2))]}])


# ------------------------------------------------------------------------ Newton


@pytest.mark.parametrize("method", ["exact", "cg"])
def test_newton_reaches_a_quadratics_minimum_in_one_step(method):
    theta, loss_fn = quadratic_problem()
    opt = optim.Newton([theta], damping=0.0, method=method)
    opt.step(closure_for(opt, loss_fn, create_graph=True))
    np.testing.assert_allclose(theta.numpy(), np.linalg.solve(A, B), rtol=1e-8, atol=1e-10)


def test_newton_step_is_the_damped_newton_step_of_logistic_regression():
    """theta - (X^T S X / N + lambda I)^-1 g for the mean logistic loss, S = p (1 - p)."""
    x, y, _ = _logistic_setup()
    w0 = rng.standard_normal(4) * 0.1
    w = nn.Parameter(w0.copy(), dtype="float64")
    x_c, y_c = cr.tensor(x, dtype="float64"), cr.tensor(y.astype(np.float64), dtype="float64")
    opt = optim.Newton([w], damping=0.1)
    w.grad = None
    F.binary_cross_entropy_with_logits(x_c @ w, y_c).backward(create_graph=True)
    opt.step()  # no closure: the fixed damping, one step
    p = 1 / (1 + np.exp(-(x @ w0)))
    g = x.T @ (p - y) / len(x)
    h = x.T @ (x * (p * (1 - p))[:, None]) / len(x)
    expected = w0 - np.linalg.solve(h + 0.1 * np.eye(4), g)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_newton_damps_harder_where_the_hessian_is_indefinite():
    """f = x^2 - y^2 + y^4 at a point of negative curvature in y: the damped step still
    lowers f (an undamped Newton step would climb towards the saddle)."""
    theta = nn.Parameter(np.array([1.0, 0.1]), dtype="float64")

    def loss_fn():
        return theta[0] ** 2 - theta[1] ** 2 + theta[1] ** 4

    opt = optim.Newton([theta], damping=1e-6)
    before = float(loss_fn().item())
    for _ in range(3):
        opt.step(closure_for(opt, loss_fn, create_graph=True))
    assert float(loss_fn().item()) < before
    assert opt.state[theta]["lambda"] >= 1e-6


def test_newton_refuses_too_many_parameters_and_gradients_without_a_graph():
    big = nn.Parameter(np.zeros(5000))
    with pytest.raises(ArgumentError, match=r"5000 parameters.*max_params=4096.*method='cg'"):
        optim.Newton([big])
    optim.Newton([big], method="cg")  # no matrix: allowed
    theta, loss_fn = quadratic_problem()
    opt = optim.Newton([theta])
    with pytest.raises(GraphError, match=r"backward\(create_graph=True\)"):
        opt.step(closure_for(opt, loss_fn, create_graph=False))


# --------------------------------------------------- from fit, experiments, estimators


def _digits_subset():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:300] / 16.0).astype(np.float32), y[:300].astype(np.int64)


@pytest.mark.parametrize(
    "make, epochs",
    [
        (lambda p: optim.LBFGS(p, max_iter=5, line_search_fn="strong_wolfe"), 4),
        (lambda p: optim.Newton(p, method="cg", cg_max_iter=10), 4),
        (lambda p: optim.Rprop(p), 20),
        (lambda p: optim.ASGD(p, lr=0.5), 20),
    ],
    ids=["lbfgs", "newton-cg", "rprop", "asgd"],
)
def test_full_batch_fit_lowers_the_loss(make, epochs):
    x, y = _digits_subset()
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 10))
    history = cr.train.fit(
        model, (x, y), loss="cross_entropy", optimizer=make(model.parameters()),
        epochs=epochs, batch_size=len(x), shuffle=False, verbose=0,
    )  # fmt: skip
    assert history["loss"][-1] < 0.7 * history["loss"][0]


def test_newton_by_name_trains_a_small_model_through_fit():
    x, y = _digits_subset()
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 10))
    history = cr.train.fit(
        model, (x[:100], y[:100]), loss="cross_entropy", optimizer="newton",
        epochs=3, batch_size=100, verbose=0,
    )  # fmt: skip
    assert history["loss"][-1] < 0.5 * history["loss"][0]


@pytest.mark.parametrize("name", ["rprop", "asgd", "lbfgs", "newton"])
def test_the_new_optimisers_are_known_by_name(name):
    from chainrule import optim
    from chainrule.train.resolve import get_optimizer

    assert name in optim.OPTIMIZERS
    model = nn.Sequential(nn.Linear(2, 2))
    assert type(get_optimizer(name, model)) is optim.OPTIMIZERS[name]


def test_an_experiment_file_trains_with_lbfgs(tmp_path, monkeypatch):
    from chainrule.experiments import loads, run_experiment

    monkeypatch.setattr("chainrule.experiments.runner._plots", lambda *args: None)
    text = """
name = "digits-lbfgs"
[data]
name = "digits"
flatten = true
[model]
layers = [{type = "linear", out = 10}]
[optimizer]
name = "lbfgs"
max_iter = 5
history_size = 10
line_search_fn = "strong_wolfe"
[training]
epochs = 3
batch_size = 2000
"""
    config = loads(text)
    assert config.optimizer.args["line_search_fn"] == "strong_wolfe"
    result = run_experiment(config, tmp_path / "run", verbose=0)
    losses = result.histories[0]["loss"]
    assert losses[-1] < losses[0]
    assert result.test_accuracy > 0.8


def test_the_estimator_trains_with_lbfgs_and_refuses_weight_decay_it_cannot_take():
    from chainrule.train.estimator import NeuralNetClassifier

    x, y = _digits_subset()
    clf = NeuralNetClassifier(
        hidden_layer_sizes=(), optimizer="lbfgs", lr=1.0, epochs=5, batch_size=len(x), seed=0
    )
    assert clf.fit(x, y).score(x, y) > 0.9
    with pytest.raises(ArgumentError, match="takes no weight_decay"):
        NeuralNetClassifier(optimizer="lbfgs", weight_decay=0.1, epochs=1).fit(x, y)


@pytest.mark.parametrize("name", ["lbfgs", "newton"])
def test_a_checkpointed_closure_run_resumes_exactly(name, tmp_path):
    data_rng = np.random.default_rng(0)
    x = data_rng.standard_normal((60, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def train(epochs, **kwargs):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 2))
        options = {"lbfgs": dict(max_iter=3), "newton": {}}[name]
        opt = {"lbfgs": optim.LBFGS, "newton": optim.Newton}[name](model.parameters(), **options)
        history = cr.train.fit(
            model, (x, y), loss="cross_entropy", optimizer=opt, epochs=epochs,
            batch_size=60, verbose=0, **kwargs,
        )  # fmt: skip
        return model, history

    train(2, checkpoint_dir=tmp_path)
    resumed, history = train(3, checkpoint_dir=tmp_path, resume=True)
    uninterrupted, expected = train(3)
    assert history["loss"] == expected["loss"]
    np.testing.assert_array_equal(resumed[0].weight.numpy(), uninterrupted[0].weight.numpy())
