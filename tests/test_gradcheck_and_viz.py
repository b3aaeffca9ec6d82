"""gradcheck catches a wrong gradient and says where; to_dot draws the graph."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.function import Function
from chainrule.errors import GradcheckError


class WrongSquare(Function):
    """y = x^2 with a deliberately wrong derivative (x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved
        return (grad_y * x,)


def test_gradcheck_rejects_a_wrong_gradient_and_reports_the_worst_element():
    with pytest.raises(GradcheckError, match="worst element: input 0"):
        cr.gradcheck(lambda x: WrongSquare.apply(x), [np.array([1.0, -2.0, 3.0])])


def test_gradcheck_result_reports_errors_when_not_raising():
    result = cr.gradcheck(
        lambda x: WrongSquare.apply(x), [np.array([1.0, -2.0, 3.0])], raise_exception=False
    )
    assert not result.ok
    assert result.element == (2,)  # |2x - x| is largest at x = 3
    assert result.numeric == pytest.approx(2 * result.analytic, rel=1e-6)


def test_gradcheck_passes_a_correct_gradient():
    result = cr.gradcheck(lambda x: x * x, [np.array([1.0, -2.0, 3.0])])
    assert result.ok and result.max_abs_error < 1e-6


def test_to_dot_draws_op_and_tensor_nodes_with_shapes():
    w = cr.randn(3, 2, requires_grad=True)
    x = cr.randn(4, 3)
    loss = cr.relu(x @ w).sum()
    dot = cr.viz.to_dot(loss, params={"w": w})
    assert dot.startswith("digraph")
    for text in ("MatMul", "ReLU", "Sum", 'w\\n3x2"', '4x3"', '4x2"'):
        assert text in dot
    assert dot.count("->") == 7  # x, w -> MatMul -> t -> ReLU -> t -> Sum -> loss
