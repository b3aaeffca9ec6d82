"""Gradients of intermediate values: ``autograd.grad``, ``retain_grad()``, ``register_hook``,
against the lecture's hand values and central finite differences in float64."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import grad
from chainrule.errors import ArgumentTypeError, GraphError, ShapeError


def lecture_graph():
    """e = (a + b) * (b + 1) at a = 2, b = 1: c = 3, d = 2, e = 6."""
    a = cr.tensor(2.0, requires_grad=True, dtype="float64")
    b = cr.tensor(1.0, requires_grad=True, dtype="float64")
    c = a + b
    d = b + 1
    return a, b, c, d, c * d


def finite_difference(fn, x, eps=1e-6):
    """d fn / d x by central differences, x a float64 array."""
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        out[i] = (fn(up) - fn(down)) / (2 * eps)
    return out


def test_grad_gives_the_lectures_partial_derivatives_without_touching_grad():
    a, b, c, d, e = lecture_graph()
    dc, dd, da, db = grad(e, [c, d, a, b])
    assert (dc.item(), dd.item(), da.item(), db.item()) == (2.0, 3.0, 2.0, 5.0)
    assert a.grad is None and b.grad is None and c.grad is None


def test_grad_of_an_intermediate_matches_finite_differences():
    rng = np.random.default_rng(0)
    x0, w0 = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    x = cr.tensor(x0, dtype="float64", requires_grad=True)
    w = cr.tensor(w0, dtype="float64", requires_grad=True)
    h = (x @ w).tanh()
    loss = (h * h * h).sum() + h.sum()
    dh, dx = grad(loss, [h, x])
    np.testing.assert_allclose(
        dh.numpy(), finite_difference(lambda h: (h**3).sum() + h.sum(), h.numpy()), atol=1e-6
    )
    full = finite_difference(lambda x: ((h := np.tanh(x @ w0)) ** 3).sum() + h.sum(), x0)
    np.testing.assert_allclose(dx.numpy(), full, atol=1e-6)


def test_grad_takes_grad_outputs_and_sums_several_outputs():
    x = cr.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    y = x * x
    (dx,) = grad(y, x, grad_outputs=cr.tensor([1.0, 0.5, 0.0], dtype="float64"))
    np.testing.assert_array_equal(dx.numpy(), [2.0, 2.0, 0.0])  # 2x * v
    (dx,) = grad([(x * x).sum(), (3 * x).sum()], [x])
    np.testing.assert_array_equal(dx.numpy(), [5.0, 7.0, 9.0])  # 2x + 3


def test_grad_frees_the_graph_unless_asked_to_keep_it():
    a, b, *_, e = lecture_graph()
    grad(e, [a], retain_graph=True)
    assert grad(e, [b])[0].item() == 5.0
    with pytest.raises(GraphError, match="freed"):
        grad(e, [b])


def test_grad_refuses_unused_and_non_differentiable_inputs_by_name():
    a, b, _, d, e = lecture_graph()
    unused = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(GraphError, match=r"do not depend on inputs\[1\].*allow_unused=True"):
        grad(d, [b, unused], retain_graph=True)
    assert grad(d, [b, unused], retain_graph=True, allow_unused=True)[1] is None
    with pytest.raises(GraphError, match=r"inputs\[0\] does not require grad"):
        grad(e, [cr.tensor(1.0)])
    with pytest.raises(ShapeError, match="non-scalar output needs grad_outputs"):
        grad(a * cr.tensor([1.0, 2.0], dtype="float64"), [a])
    with pytest.raises(ArgumentTypeError, match="inputs must be a Tensor"):
        grad(e, [1.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    a, b, c, d, e = lecture_graph()
    c.retain_grad()
    d.retain_grad()
    assert c.retains_grad and not a.retains_grad
    e.backward()
    assert (c.grad.item(), d.grad.item(), a.grad.item(), b.grad.item()) == (2.0, 3.0, 2.0, 5.0)


def test_retain_grad_refuses_a_tensor_without_gradient():
    with pytest.raises(GraphError, match="retain_grad.*does not require grad"):
        cr.tensor(1.0).retain_grad()


def test_a_hook_sees_the_whole_gradient_once_and_can_replace_it():
    a, b, c, _, e = lecture_graph()
    seen = []
    b.register_hook(lambda g: seen.append(g.item()))  # b feeds c and d: one call, the sum
    handle = c.register_hook(lambda g: g * 10)  # de/dc = 2 becomes 20, upstream of a and b
    e.backward(retain_graph=True)
    assert seen == [20.0 + 3.0]
    assert a.grad.item() == 20.0 and b.grad.item() == 23.0
    handle.remove()
    a.zero_grad()
    e.backward()
    assert a.grad.item() == 2.0 and seen == [23.0, 2.0 + 3.0]


def test_a_hook_on_a_leaf_root_and_a_wrong_shape_are_handled():
    x = cr.tensor(3.0, requires_grad=True)
    x.register_hook(lambda g: g * 2)
    x.backward()
    assert x.grad.item() == 2.0
    y = cr.tensor([1.0, 2.0], requires_grad=True)
    y.register_hook(lambda g: g.sum())
    with pytest.raises(ShapeError, match=r"hook returned a gradient of shape \(\)"):
        (y * 2).sum().backward()
    with pytest.raises(ArgumentTypeError, match="hook must be callable"):
        y.register_hook(3)


def test_plain_backward_is_unchanged_by_the_hook_machinery():
    """Same bits with and without a hook elsewhere (the second path sums leaves first)."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(5, 3))

    def step(with_hook):
        w = cr.tensor(w0, requires_grad=True)
        other = cr.tensor(1.0, requires_grad=True)
        if with_hook:
            other.register_hook(lambda g: None)
        ((w @ w.T).tanh().sum() + (w * w).sum()).backward()
        return w.grad.numpy()

    np.testing.assert_allclose(step(False), step(True), rtol=1e-6)
