"""Second derivatives of every differentiable op against finite differences of the first
(float64), and the create_graph machinery around them (``backward(create_graph=True)``,
``autograd.grad(create_graph=True)``, ``autograd.functional``)."""

import inspect

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import ops
from chainrule.autograd import Function, functional, grad
from chainrule.errors import GradcheckError, GraphError, ShapeError

rng = np.random.default_rng(2024)


def normal(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """No ties (max, maxout, max-pool have one winner per window)."""
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)


def probabilities(*shape):
    return rng.uniform(0.1, 0.9, shape)


LABELS = np.array([0, 2, 1, 2])
DIRICHLET = rng.dirichlet(np.ones(3), size=4)
MASK = (rng.random((3, 4)) > 0.4) / 0.6

# name -> (fn, samplers for its inputs); the op is named by the table key, and every op
# the lectures' networks use appears at least once.
OPS = {
    # elementwise and arithmetic, with broadcasting
    "add_broadcast": (lambda a, b: a + b, [normal, normal], [(3, 4), (4,)]),
    "sub_broadcast": (lambda a, b: a - b, [normal, normal], [(3, 1), (1, 4)]),
    "mul_broadcast": (lambda a, b: a * b, [normal, normal], [(2, 3), (3,)]),
    "div": (lambda a, b: a / b, [normal, away_from_zero], [(2, 3), (2, 3)]),
    "pow": (lambda a, b: a**b, [positive, normal], [(2, 3), (2, 3)]),
    "pow_scalar": (lambda x: x**3, [normal], [(2, 3)]),
    "neg": (lambda x: -x, [normal], [(2, 3)]),
    "exp": (F.exp, [normal], [(2, 3)]),
    "log": (F.log, [positive], [(2, 3)]),
    "sqrt": (F.sqrt, [positive], [(2, 3)]),
    "tanh": (F.tanh, [normal], [(2, 3)]),
    "sigmoid": (F.sigmoid, [normal], [(2, 3)]),
    "abs": (F.abs, [away_from_zero], [(2, 3)]),
    "relu": (F.relu, [away_from_zero], [(2, 3)]),
    "maximum": (F.maximum, [distinct, lambda *s: distinct(*s) + 0.11], [(2, 3), (2, 3)]),
    "minimum": (F.minimum, [distinct, lambda *s: distinct(*s) + 0.11], [(2, 3), (2, 3)]),
    "clip": (lambda x: F.clip(x, -0.5, 0.8), [away_from_zero], [(2, 3)]),
    "where": (lambda a, b: F.where(a.data > 0, a, b), [away_from_zero, normal], [(2, 3), (2, 3)]),
    # activations
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [away_from_zero], [(2, 3)]),
    "prelu": (F.prelu, [away_from_zero, positive], [(2, 3, 2), (3,)]),
    "elu": (F.elu, [away_from_zero], [(2, 3)]),
    "softplus": (lambda x: F.softplus(x, beta=2.0), [normal], [(2, 3)]),
    "gelu": (F.gelu, [normal], [(2, 3)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [normal], [(2, 3)]),
    "hardtanh": (F.hardtanh, [lambda *s: away_from_zero(*s) * 0.8], [(2, 3)]),
    "softmax": (lambda x: F.softmax(x, axis=1), [normal], [(2, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, axis=0), [normal], [(3, 2)]),
    "rbf": (F.rbf, [normal, normal, positive], [(3, 2), (4, 2), (4,)]),
    "maxout": (lambda x: F.maxout(x, 2), [distinct], [(2, 4)]),
    # reductions
    "sum_axis": (lambda x: x.sum(axis=1), [normal], [(2, 3, 2)]),
    "sum_all": (lambda x: (x * x).sum(), [normal], [(2, 3)]),
    "mean_keepdims": (lambda x: x.mean(axis=0, keepdims=True), [normal], [(3, 2)]),
    "max_axis": (lambda x: x.max(axis=1), [distinct], [(2, 3)]),
    "min": (lambda x: x.min(), [distinct], [(2, 3)]),
    "var": (lambda x: x.var(axis=1), [normal], [(2, 4)]),
    "std": (lambda x: x.std(), [normal], [(2, 3)]),
    "logsumexp": (lambda x: F.logsumexp(x, axis=1), [normal], [(2, 3)]),
    # shape
    "reshape": (lambda x: x.reshape(3, 2), [normal], [(2, 3)]),
    "permute": (lambda x: x.permute(2, 0, 1), [normal], [(2, 3, 2)]),
    "broadcast_to": (lambda x: x.broadcast_to((2, 3, 2)), [normal], [(3, 1)]),
    "getitem_slice": (lambda x: x[1:, ::2], [normal], [(3, 4)]),
    "getitem_array": (lambda x: x[np.array([2, 0, 2])], [normal], [(3, 2)]),
    "concatenate": (
        lambda a, b: F.concatenate([a, b, a], axis=1),
        [normal, normal],
        [(2, 1), (2, 2)],
    ),
    "stack": (lambda a, b: F.stack([a, b]), [normal, normal], [(3,), (3,)]),
    "pad": (lambda x: F.pad(x, ((1, 0), (0, 2))), [normal], [(2, 2)]),
    "astype": (lambda x: x.astype("float64"), [normal], [(2, 2)]),
    # linear algebra
    "matmul": (lambda a, b: a @ b, [normal, normal], [(2, 3), (3, 2)]),
    "matmul_vector": (lambda a, b: a @ b, [normal, normal], [(3,), (3, 2)]),
    "matmul_batched": (lambda a, b: a @ b, [normal, normal], [(2, 2, 3), (3, 2)]),
    "linear": (F.linear, [normal, normal, normal], [(4, 3), (2, 3), (2,)]),
    # convolution and pooling
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
        [normal, normal, normal],
        [(2, 2, 5, 5), (3, 2, 3, 3), (3,)],
    ),
    "conv2d_no_bias": (lambda x, w: F.conv2d(x, w), [normal, normal], [(1, 2, 4, 4), (2, 2, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [distinct], [(2, 2, 4, 4)]),
    "max_pool2d_overlapping": (lambda x: F.max_pool2d(x, 3, 2, 1), [distinct], [(1, 2, 5, 5)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), [normal], [(2, 2, 4, 4)]),
    "avg_pool2d_padded": (lambda x: F.avg_pool2d(x, 3, 2, 1), [normal], [(1, 2, 5, 5)]),
    "lp_pool2d": (lambda x: F.lp_pool2d(x, 2, 2), [positive], [(1, 2, 4, 4)]),
    "lp_pool2d_p3": (lambda x: F.lp_pool2d(x, 3, 2), [positive], [(1, 1, 4, 4)]),
    # normalisation and dropout
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [normal, normal, normal],
        [(4, 3), (3,), (3,)],
    ),
    "batch_norm_train_4d": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [normal, normal, normal],
        [(3, 2, 2, 2), (2,), (2,)],
    ),
    "batch_norm_eval": (
        lambda x, w, b: F.batch_norm(
            x, np.array([0.1, -0.2]), np.array([1.5, 0.7]), w, b, training=False
        ),
        [normal, normal, normal],
        [(3, 2), (2,), (2,)],
    ),
    "dropout": (
        lambda x: F.dropout(x, 0.4, generator=np.random.default_rng(0)),
        [normal],
        [(3, 4)],
    ),
    # losses
    "cross_entropy": (lambda z: F.cross_entropy(z, LABELS), [normal], [(4, 3)]),
    "cross_entropy_weighted_smoothed": (
        lambda z: F.cross_entropy(z, LABELS, label_smoothing=0.1, weight=np.array([1.0, 2.0, 0.5])),
        [normal],
        [(4, 3)],
    ),
    "cross_entropy_probabilities": (lambda z: F.cross_entropy(z, DIRICHLET), [normal], [(4, 3)]),
    "nll_loss": (lambda z: F.nll_loss(F.log_softmax(z), LABELS), [normal], [(4, 3)]),
    "mse_loss": (F.mse_loss, [normal, normal], [(3, 2), (3, 2)]),
    "l1_loss": (F.l1_loss, [away_from_zero, lambda *s: np.zeros(s)], [(3, 2), (3, 2)]),
    "binary_cross_entropy": (
        F.binary_cross_entropy,
        [probabilities, probabilities],
        [(3, 2), (3, 2)],
    ),
    "binary_cross_entropy_with_logits": (
        F.binary_cross_entropy_with_logits,
        [normal, probabilities],
        [(3, 2), (3, 2)],
    ),
    "distillation_loss": (
        lambda z: F.distillation_loss(z, DIRICHLET, LABELS, temperature=2.0, alpha=0.7),
        [normal],
        [(4, 3)],
    ),
}


def _inputs(name):
    fn, samplers, shapes = OPS[name]
    return fn, [sample(*shape) for sample, shape in zip(samplers, shapes)]


def _squared(fn):
    """fn's output squared: the op's Jacobian then enters the second derivative twice."""

    def composed(*args):
        y = fn(*args)
        return y * y

    return composed


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_derivatives_match_finite_differences(name):
    fn, inputs = _inputs(name)
    cr.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_derivatives_of_the_squared_op_match_finite_differences(name):
    fn, inputs = _inputs(name)
    cr.gradgradcheck(_squared(fn), inputs)


def _functions(module):
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if (
            issubclass(obj, Function)
            and obj is not Function
            and obj.__module__.startswith("chainrule")
        ):
            yield obj


def test_every_op_has_a_differentiable_backward():
    """A new op without backward_graph fails here: add one, and a row to OPS."""
    import importlib

    names = ["activation", "conv", "convert", "dropout", "elementwise", "linalg", "loss"]
    names += ["norm", "pool", "reduce", "shape"]
    modules = [importlib.import_module(f"chainrule.ops.{n}") for n in names]
    classes = {c for m in modules if inspect.ismodule(m) for c in _functions(m)}
    assert len(classes) > 40
    missing = sorted(c.__name__ for c in classes if c.backward_graph is Function.backward_graph)
    assert missing == []


# Public ops with no row of their own: not differentiable, or made of ops that have one.
NOT_IN_TABLE = {
    "all", "any", "argmax", "argmin", "eq", "ge", "gt", "isfinite", "le", "lt", "ne",
    "to_device", "soft_targets", "abs_rectify", "cat", "expand", "flatten", "squeeze",
    "unsqueeze", "transpose", "getitem", "max", "mean", "sum",
}  # fmt: skip


def test_the_table_covers_every_public_op():
    covered = {name for name in ops.__all__ if any(key.startswith(name) for key in OPS)}
    assert sorted(set(ops.__all__) - covered - NOT_IN_TABLE) == []


# ----------------------------------------------------------------- the machinery


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = cr.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    (second,) = grad(x.grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), 6 * x.numpy())


def test_grad_with_create_graph_gives_tensors_in_a_graph_and_plain_grad_does_not():
    x = cr.tensor([[0.3, -0.2], [1.0, 0.4]], dtype="float64", requires_grad=True)
    w = cr.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype="float64", requires_grad=True)
    loss = (F.tanh(x @ w) ** 2).sum()
    (plain,) = grad(loss, x, retain_graph=True)
    assert not plain.requires_grad and plain.grad_fn is None
    g_x, g_w = grad(loss, [x, w], create_graph=True)
    assert g_x.requires_grad and g_w.requires_grad
    np.testing.assert_allclose(g_x.numpy(), plain.numpy())
    # a mixed second derivative d/dw <g_x, 1> against finite differences
    (mixed,) = grad(g_x.sum(), w)
    eps = 1e-6
    numeric = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            for sign in (1, -1):
                w2 = cr.tensor(w.numpy(), dtype="float64", requires_grad=True)
                w2.data[i, j] += sign * eps
                x2 = cr.tensor(x.numpy(), dtype="float64", requires_grad=True)
                (g,) = grad((F.tanh(x2 @ w2) ** 2).sum(), x2)
                numeric[i, j] += sign * g.numpy().sum() / (2 * eps)
    np.testing.assert_allclose(mixed.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_grad_outputs_that_require_grad_stay_in_the_graph():
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    v = cr.tensor([3.0, -1.0], dtype="float64", requires_grad=True)
    (g,) = grad(x * x, x, grad_outputs=v, create_graph=True)  # 2 x v
    (dv,) = grad(g.sum(), v)
    np.testing.assert_allclose(dv.numpy(), 2 * x.numpy())


def test_plain_backward_keeps_no_graph_of_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_create_graph_retains_the_graph_by_default_and_retain_graph_false_frees_it():
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = (x.exp() * x).sum()
    grad(y, x, create_graph=True)
    grad(y, x, create_graph=True)  # still there
    grad(y, x, create_graph=True, retain_graph=False)
    with pytest.raises(GraphError, match="retain_graph"):
        grad(y, x)


def test_hooks_and_retain_grad_see_the_graph_gradient():
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    h = x * x
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g) or g * 2)
    h.sum().backward(create_graph=True)
    assert len(seen) == 1
    np.testing.assert_allclose(h.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_an_op_without_a_differentiable_backward_refuses_by_name():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad_y):
            (x,) = ctx.saved
            return (3 * grad_y * x * x,)

    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = Cube.apply(x).sum()
    with pytest.raises(GraphError, match=r"cube does not support create_graph=True"):
        grad(y, x, create_graph=True)
    (g,) = grad(y, x)  # the first-order path is unaffected
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])


def test_gradgradcheck_refuses_a_wrong_second_derivative():
    class WrongSecond(Function):
        @staticmethod
        def forward(ctx, x):
            return x**3

        @staticmethod
        def backward(ctx, grad_y):
            return (3 * grad_y * ctx.inputs[0].data ** 2,)

        @staticmethod
        def backward_graph(ctx, grad_y):
            x = ctx.inputs[0]
            return (grad_y * x * x * 3.3,)  # first derivative off by 10%

    with pytest.raises(GradcheckError, match="second derivatives disagree"):
        cr.gradgradcheck(lambda x: WrongSecond.apply(x), [normal(3)])


# -------------------------------------------------------------- functional API


def test_hessian_of_a_quadratic_is_its_matrix():
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    x0 = np.array([0.1, -0.3, 2.0])
    h = functional.hessian(
        lambda x: 0.5 * (x @ (cr.tensor(a, dtype="float64") @ x)), cr.tensor(x0, dtype="float64")
    )
    np.testing.assert_allclose(h.numpy(), a, atol=1e-12)


def test_hessian_of_log_sum_exp_matches_its_closed_form():
    x0 = np.array([0.2, -1.0, 0.7, 0.0])
    h = functional.hessian(lambda x: F.logsumexp(x), cr.tensor(x0, dtype="float64")).numpy()
    p = np.exp(x0) / np.exp(x0).sum()
    np.testing.assert_allclose(h, np.diag(p) - np.outer(p, p), atol=1e-12)


def test_hvp_equals_hessian_times_v_for_several_inputs():
    w0, b0 = normal(3, 2), normal(2)
    x = cr.tensor(normal(5, 3), dtype="float64")

    def loss(w, b):
        return (F.tanh(x @ w + b) ** 2).sum()

    v = (cr.tensor(normal(3, 2), dtype="float64"), cr.tensor(normal(2), dtype="float64"))
    value, (hv_w, hv_b) = functional.hvp(
        loss, (cr.tensor(w0, dtype="float64"), cr.tensor(b0, dtype="float64")), v
    )
    flat = np.concatenate([w0.ravel(), b0])

    def flat_loss(z):
        return loss(z[:6].reshape(3, 2), z[6:])

    h = functional.hessian(flat_loss, cr.tensor(flat, dtype="float64")).numpy()
    expected = h @ np.concatenate([v[0].numpy().ravel(), v[1].numpy()])
    np.testing.assert_allclose(
        np.concatenate([hv_w.numpy().ravel(), hv_b.numpy()]), expected, rtol=1e-10
    )
    assert float(value.item()) == pytest.approx(
        float(loss(cr.tensor(w0, dtype="float64"), cr.tensor(b0, dtype="float64")).item())
    )


def test_jacobian_of_a_vector_function():
    x0 = np.array([0.5, 1.5])
    j = functional.jacobian(
        lambda x: F.stack([x[0] * x[1], x[0].exp(), x[1] ** 2]), cr.tensor(x0, dtype="float64")
    )
    expected = np.array([[x0[1], x0[0]], [np.exp(x0[0]), 0.0], [0.0, 2 * x0[1]]])
    np.testing.assert_allclose(j.numpy(), expected)


def test_jacobian_and_hessian_agree_with_torch():
    torch = pytest.importorskip("torch", reason="comparing with PyTorch needs torch installed")
    x0 = normal(4)
    w = normal(3, 4)

    def ours(x):
        return F.softmax(cr.tensor(w, dtype="float64") @ x, axis=0)

    j = functional.jacobian(ours, cr.tensor(x0, dtype="float64")).numpy()
    j_torch = torch.autograd.functional.jacobian(
        lambda x: torch.softmax(torch.tensor(w) @ x, 0), torch.tensor(x0)
    ).numpy()
    np.testing.assert_allclose(j, j_torch, atol=1e-12)
    h = functional.hessian(lambda x: (ours(x) ** 2).sum(), cr.tensor(x0, dtype="float64")).numpy()
    h_torch = torch.autograd.functional.hessian(
        lambda x: (torch.softmax(torch.tensor(w) @ x, 0) ** 2).sum(), torch.tensor(x0)
    ).numpy()
    np.testing.assert_allclose(h, h_torch, atol=1e-12)


def test_hessian_refuses_a_non_scalar_function_and_too_large_inputs():
    with pytest.raises(ShapeError, match="scalar"):
        functional.hessian(lambda x: x * 2, cr.tensor([1.0, 2.0], dtype="float64"))
    with pytest.raises(ShapeError, match="too large"):
        functional.hessian(lambda x: x.sum(), cr.zeros(5000, dtype="float64"), max_elements=4096)
