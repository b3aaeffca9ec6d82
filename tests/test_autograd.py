"""The engine: the lectures' worked examples, graph bookkeeping, and what it refuses."""

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, GraphError, ShapeError

# --------------------------------------------------------- the lectures' examples


def test_lecture_example_c_equals_a_plus_b_d_equals_b_plus_1_e_equals_c_times_d():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(1.0, requires_grad=True)
    c = a + b
    d = b + 1
    e = c * d
    e.backward()
    assert e.item() == 6.0
    assert a.grad.item() == 2.0  # de/da = d = 2
    assert b.grad.item() == 5.0  # de/db = d + c = 2 + 3, b is used twice


def test_lecture_numpy_example_sum_of_x_times_y_plus_z():
    rng = np.random.default_rng(0)
    xv, yv, zv = (rng.standard_normal((3, 4)) for _ in range(3))
    x, y, z = (cr.tensor(v, dtype="float64", requires_grad=True) for v in (xv, yv, zv))
    c = (x * y + z).sum()
    c.backward()
    np.testing.assert_allclose(x.grad.numpy(), yv)
    np.testing.assert_allclose(y.grad.numpy(), xv)
    np.testing.assert_array_equal(z.grad.numpy(), np.ones((3, 4)))


def test_lecture_sigmoid_chain_derivatives_match_closed_forms():
    def sigma(v):
        return 1 / (1 + np.exp(-v))

    def sigma_prime(v):
        return sigma(v) * (1 - sigma(v))

    av, bv, cv, dv, xv = 0.7, -0.3, 1.5, 0.2, 0.9
    a, b, c, d = (cr.tensor(v, dtype="float64", requires_grad=True) for v in (av, bv, cv, dv))
    x = cr.tensor(xv, dtype="float64")
    z = cr.sigmoid(c * cr.sigmoid(a * x + b) + d)
    z.backward()
    y = sigma(av * xv + bv)
    outer = sigma_prime(cv * y + dv)
    assert d.grad.item() == pytest.approx(outer, rel=1e-12)
    assert c.grad.item() == pytest.approx(outer * y, rel=1e-12)
    assert b.grad.item() == pytest.approx(outer * cv * sigma_prime(av * xv + bv), rel=1e-12)
    assert a.grad.item() == pytest.approx(outer * cv * sigma_prime(av * xv + bv) * xv, rel=1e-12)


def test_lecture_xor_network_maps_the_four_inputs_exactly():
    X = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    W = cr.tensor([[1, 1], [1, 1]])
    b = cr.tensor([0, -1])
    v = cr.tensor([1, -2])
    c = cr.tensor(0)
    h = cr.relu(X @ W + b)
    y = h @ v + c
    np.testing.assert_array_equal(y.numpy(), [0, 1, 1, 0])


# ------------------------------------------------------------------ the graph


def test_gradients_accumulate_across_backward_calls_until_cleared():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_broadcast_gradient_is_summed_back_to_the_input_shape():
    x = cr.ones(3, 4, requires_grad=True)
    b = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (x * b).sum().backward()
    assert b.grad.shape == (4,)
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0, 3.0, 3.0])


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**5000, rel=1e-3)


def test_no_grad_records_nothing():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad
    assert y.grad_fn is None


def test_no_grad_works_as_a_decorator_and_enable_grad_reenables():
    @cr.no_grad()
    def f(t):
        with cr.enable_grad():
            inner = t * 2
        return t * 2, inner

    outer, inner = f(cr.tensor([1.0], requires_grad=True))
    assert not outer.requires_grad and inner.requires_grad


def test_requires_grad_propagates_only_from_inputs_that_need_it():
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([2.0])
    assert (a * b).requires_grad
    assert not (b * b).requires_grad
    (a * b).sum().backward()
    assert b.grad is None


def test_buffers_are_released_after_backward_and_a_second_backward_is_refused():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_intermediate_arrays_are_freed_once_backward_is_done():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    hidden = x * 2
    ref = weakref.ref(hidden)
    loss = (hidden.exp()).sum()
    del hidden
    assert ref() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert ref() is None


def test_detach_cuts_the_graph_and_shares_memory():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None


def test_backward_with_explicit_gradient_for_a_non_scalar():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(cr.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 12.0])


def test_comparisons_give_boolean_tensors_without_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == cr.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), [False, True, True])
    np.testing.assert_array_equal((x == 2.0).numpy(), [False, True, False])


# ------------------------------------------------------------------- dtypes


def test_float32_by_default_and_float64_on_request():
    assert cr.tensor([1.0, 2.0]).dtype == cr.float32
    assert cr.tensor(np.array([1.0, 2.0])).dtype == cr.float32
    assert cr.tensor([1.0], dtype="float64").dtype == cr.float64
    assert cr.randn(2, 3).dtype == cr.float32
    assert cr.tensor([1, 2]).dtype.kind == "i"


def test_python_scalars_keep_float32():
    x = cr.randn(3, requires_grad=True)
    for y in (x * 2, 2 * x, x + 1, x / 3, 1 - x, x**2, 2.0**x):
        assert y.dtype == cr.float32
    y = (x * 0.5).sum()
    y.backward()
    assert x.grad.dtype == cr.float32


def test_numpy_scalar_on_the_left_gives_a_tensor():
    x = cr.tensor([1.0, 2.0])
    assert isinstance(np.float32(2.0) * x, cr.Tensor)


# --------------------------------------------------------------- tensor basics


def test_tensor_attributes_and_conversions():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and len(t) == 2
    assert t.device == "cpu" and t.is_leaf
    assert isinstance(t.numpy(), np.ndarray)
    assert t.sum().item() == 10.0
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(t).shape == (2, 2)


def test_repr_shows_values_and_graph_state():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(t) == "tensor([1., 2.], requires_grad=True)"
    assert "grad_fn=<Mul>" in repr(t * 2)
    assert "dtype=int64" in repr(cr.tensor([1, 2]))
    assert "dtype=float64" in repr(cr.tensor([1.0], dtype="float64"))


def test_tensor_is_hashable_by_identity():
    a, b = cr.zeros(2), cr.zeros(2)
    assert len({a: 1, b: 2}) == 2


def test_creation_functions():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).shape == (2, 3)
    assert cr.ones(4).numpy().sum() == 4
    assert cr.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert cr.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert cr.eye(3).numpy().trace() == 3
    assert cr.zeros_like(cr.ones(3)).tolist() == [0, 0, 0]


# ------------------------------------------------------------------ randomness


def test_manual_seed_makes_draws_reproducible():
    cr.manual_seed(42)
    a = cr.randn(5).numpy()
    b = cr.rand(3).numpy()
    cr.manual_seed(42)
    np.testing.assert_array_equal(cr.randn(5).numpy(), a)
    np.testing.assert_array_equal(cr.rand(3).numpy(), b)
    cr.manual_seed(43)
    assert not np.array_equal(cr.randn(5).numpy(), a)


def test_rng_state_round_trips():
    state = cr.get_rng_state()
    a = cr.randn(4).numpy()
    cr.set_rng_state(state)
    np.testing.assert_array_equal(cr.randn(4).numpy(), a)


def test_fork_rng_reseeds_inside_and_restores_the_stream_after():
    cr.manual_seed(7)
    outside = cr.randn(3).numpy()
    cr.manual_seed(42)
    inside = cr.randn(3).numpy()
    cr.manual_seed(7)
    with cr.fork_rng(42):
        np.testing.assert_array_equal(cr.randn(3).numpy(), inside)
    np.testing.assert_array_equal(cr.randn(3).numpy(), outside)
    cr.manual_seed(7)
    with cr.fork_rng():  # no seed: the block draws on, the stream after is unchanged
        cr.randn(100)
    np.testing.assert_array_equal(cr.randn(3).numpy(), outside)
    cr.manual_seed(7)
    cr.randn(3)
    after = cr.randn(2).numpy()
    cr.manual_seed(7)
    cr.randn(3)
    with pytest.raises(RuntimeError), cr.fork_rng(1):  # restored on an exception too
        cr.randn(5)
        raise RuntimeError
    np.testing.assert_array_equal(cr.randn(2).numpy(), after)


def test_manual_seed_rejects_a_negative_seed():
    with pytest.raises(ValueError, match="non-negative"):
        cr.manual_seed(-1)


# ------------------------------------------------------------------ bad input


def test_matmul_shape_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ShapeError, match=r"matmul: shapes \(3, 4\) and \(5, 2\)"):
        cr.randn(3, 4) @ cr.randn(5, 2)


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ShapeError, match=r"add: .*\(3,\), \(4,\)"):
        cr.randn(3) + cr.randn(4)


def test_backward_on_a_non_scalar_without_grad_is_refused():
    x = cr.randn(3, requires_grad=True)
    with pytest.raises(ShapeError, match=r"scalar; got shape \(3,\)"):
        (x * 2).backward()


def test_backward_on_a_tensor_that_does_not_require_grad_is_refused():
    with pytest.raises(GraphError, match="does not require grad"):
        cr.randn(3).sum().backward()


def test_requires_grad_on_an_integer_tensor_is_refused():
    with pytest.raises(DTypeError, match=r"floating-point.*int64"):
        cr.tensor([1, 2, 3], requires_grad=True)


def test_backward_grad_of_the_wrong_shape_is_refused():
    x = cr.randn(3, requires_grad=True)
    with pytest.raises(ShapeError, match=r"grad has shape \(2,\)"):
        (x * 2).backward(cr.ones(2))


def test_reshape_and_index_errors_name_the_shape():
    with pytest.raises(ShapeError, match=r"reshape.*\(3, 4\)"):
        cr.randn(3, 4).reshape(5)
    with pytest.raises(ShapeError, match=r"\(3, 4\)"):
        cr.randn(3, 4)[5]


def test_tensor_from_text_is_refused():
    with pytest.raises(TypeError, match="dtype"):
        cr.tensor(["a", "b"])
