"""Residual blocks (identity and projection shortcuts) and maxout networks."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ArgumentTypeError, ShapeError

rng = np.random.default_rng(3)


def test_residual_adds_the_input_to_the_block_output():
    f = nn.Linear(4, 4)
    block = nn.Residual(f)
    x = cr.randn(3, 4)
    np.testing.assert_allclose(block(x).numpy(), f(x).numpy() + x.numpy(), rtol=1e-6)
    assert [n for n, _ in block.named_parameters()] == ["f.weight", "f.bias"]


def test_identity_shortcut_passes_the_gradient_straight_through():
    block = nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
    for p in block.parameters():
        p.data[...] = 0  # f(x) = 0: the block is the identity, and so is its Jacobian
    x = cr.randn(2, 3, requires_grad=True)
    block(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_residual_gradient_matches_finite_differences():
    identity = nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))
    projected = nn.Residual(nn.Linear(4, 2), nn.Linear(4, 2))
    cr.gradcheck(identity, [rng.normal(size=(3, 4))])
    cr.gradcheck(projected, [rng.normal(size=(3, 4))])


def test_projection_shortcut_maps_x_to_the_block_shape():
    f, projection = nn.Linear(5, 3), nn.Linear(5, 3, bias=False)
    block = nn.Residual(f, projection)
    x = cr.randn(4, 5)
    y = block(x)
    assert y.shape == (4, 3)
    np.testing.assert_allclose(y.numpy(), f(x).numpy() + projection(x).numpy(), rtol=1e-6)
    assert block.num_parameters() == 5 * 3 + 3 + 5 * 3


def test_residual_without_projection_names_both_shapes_when_they_differ():
    with pytest.raises(ShapeError, match=r"f\(x\) has shape \(4, 3\) but x has shape \(4, 5\)"):
        nn.Residual(nn.Linear(5, 3))(cr.randn(4, 5))
    with pytest.raises(ShapeError, match=r"projection\(x\) has shape \(4, 2\)"):
        nn.Residual(nn.Linear(5, 3), nn.Linear(5, 2))(cr.randn(4, 5))
    with pytest.raises(ArgumentTypeError, match="f must be a Module"):
        nn.Residual(F.relu)


def test_residual_does_not_broadcast_a_narrower_output():
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4, 5\)"):
        nn.Residual(nn.Linear(5, 1))(cr.randn(4, 5))


def test_residual_blocks_stack_and_summarise():
    model = nn.Sequential(
        nn.Linear(6, 8),
        nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))),
        nn.Residual(nn.Linear(8, 4), projection=nn.Linear(8, 4)),
    )
    assert model(cr.randn(2, 6)).shape == (2, 4)
    text = model.summary((6,), print_fn=None)
    assert "2.projection (Linear)" in text
    assert f"Total params: {6 * 8 + 8 + 2 * (8 * 8 + 8) + 2 * (8 * 4 + 4)}" in text


def test_maxout_linear_sends_gradient_to_each_piece_that_wins_for_some_input():
    layer = nn.MaxoutLinear(2, 3, num_pieces=4)
    x = cr.randn(64, 2)
    layer(x).sum().backward()
    pieces = F.linear(x, layer.weight, layer.bias).numpy().reshape(64, 3, 4)
    winners = np.unique(pieces.argmax(axis=2) + 4 * np.arange(3))
    has_grad = np.flatnonzero(np.abs(layer.weight.grad.numpy()).sum(axis=1))
    np.testing.assert_array_equal(has_grad, winners)
    assert len(winners) > 3


def test_maxout_gradient_goes_only_to_the_winning_piece():
    x = cr.tensor([[1.0, 5.0, 2.0, -1.0]], requires_grad=True)
    F.maxout(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 1.0, 0.0]])


def test_maxout_splits_the_gradient_evenly_between_tied_pieces():
    x = cr.tensor([[2.0, 2.0, 2.0, 0.0, 3.0, 3.0]], requires_grad=True)
    (F.maxout(x, 3) * cr.tensor([[3.0, 2.0]])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 1.0, 1.0, 0.0, 1.0, 1.0]])


def test_maxout_with_two_pieces_can_be_relu_and_abs():
    x = cr.tensor(np.linspace(-2, 2, 9))
    pairs_relu = F.stack([x, x * 0.0], axis=1).reshape(9, 2)
    np.testing.assert_array_equal(F.maxout(pairs_relu, 2).reshape(9).numpy(), F.relu(x).numpy())
    pairs_abs = F.stack([x, -x], axis=1)
    np.testing.assert_array_equal(F.maxout(pairs_abs, 2).reshape(9).numpy(), F.abs(x).numpy())


def test_maxout_layer_repr_and_output_shape():
    layer = nn.Maxout(3)
    assert layer(cr.randn(2, 9, 4, 4)).shape == (2, 3, 4, 4)
    assert repr(layer) == "Maxout(num_pieces=3, axis=1)"
    assert repr(nn.MaxoutLinear(4, 2, 3)) == (
        "MaxoutLinear(in_features=4, out_features=2, num_pieces=3, bias=True)"
    )
