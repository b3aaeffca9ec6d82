"""Module bookkeeping: registration, modes, state_dict, freezing, summary, Linear and init."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ArgumentError, ShapeError


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.out = nn.Linear(8, 3)
        self.register_buffer("steps", cr.zeros(1))

    def forward(self, x):
        return self.out(cr.relu(self.hidden(x)))


def test_parameters_and_children_are_registered_in_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Linear"]
    assert m.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    m = nn.Sequential(shared, shared)
    assert len(list(m.parameters())) == 2


def test_unnamed_walks_match_the_named_ones_in_order():
    shared = nn.Linear(3, 3)
    inner = nn.Sequential(TwoLayer(), shared)
    m = nn.Sequential(inner, nn.ReLU(), shared, nn.Sequential(nn.Linear(3, 2), inner))
    assert [id(x) for x in m.modules()] == [id(x) for _, x in m.named_modules()]
    assert [id(p) for p in m.parameters()] == [id(p) for _, p in m.named_parameters()]
    assert len(list(m.modules())) == 9  # shared modules once


def test_train_and_eval_reach_every_submodule():
    m = nn.Sequential(TwoLayer(), nn.Linear(3, 2))
    m.eval()
    assert all(not sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())


def test_zero_grad_clears_every_parameter_gradient():
    m = TwoLayer()
    m(cr.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_gives_identical_outputs():
    a, b = TwoLayer(), TwoLayer()
    x = cr.randn(5, 4)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert "steps" in a.state_dict()


def test_state_dict_holds_copies_not_views():
    m = TwoLayer()
    state = m.state_dict()
    state["hidden.bias"][:] = 99
    assert not np.any(m.hidden.bias.numpy() == 99)


def test_load_state_dict_names_missing_unexpected_and_misshapen_keys():
    m = TwoLayer()
    state = m.state_dict()
    del state["out.bias"]
    state["extra.weight"] = np.zeros(2)
    state["hidden.weight"] = np.zeros((2, 2))
    with pytest.raises(ShapeError) as error:
        m.load_state_dict(state)
    message = str(error.value)
    assert "missing keys: out.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "hidden.weight: expected (8, 4), got (2, 2)" in message


def test_frozen_parameters_get_no_gradient_for_transfer_learning():
    base = TwoLayer()
    for p in base.hidden.parameters():
        p.requires_grad = False
    base.out = nn.Linear(8, 5)  # replace the output layer
    base(cr.randn(2, 4)).sum().backward()
    assert base.hidden.weight.grad is None
    assert base.out.weight.grad is not None
    assert base.num_parameters(trainable_only=True) == 8 * 5 + 5


def test_repr_is_readable():
    text = repr(nn.Sequential(nn.Linear(4, 2), nn.Flatten()))
    assert "(0): Linear(in_features=4, out_features=2, bias=True)" in text
    assert "(1): Flatten" in text


def test_summary_lists_layers_shapes_and_parameter_totals():
    m = nn.Sequential(nn.Linear(784, 512), nn.Linear(512, 10))
    text = m.summary((784,), print_fn=None)
    assert "(None, 512)" in text and "(None, 10)" in text
    assert "401,920" in text and "5,130" in text
    assert "Total params: 407,050" in text
    assert m.training  # summary leaves the mode as it found it


def test_linear_matches_the_formula_and_passes_gradcheck():
    layer = nn.Linear(4, 3)
    x = cr.randn(5, 4)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    w, b = layer.weight.numpy().astype(float), layer.bias.numpy().astype(float)
    cr.gradcheck(lambda x, w, b: cr.functional.linear(x, w, b), [x.numpy(), w, b])


def test_linear_without_bias_has_one_parameter():
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_names_itself_and_the_shapes_on_a_wrong_input():
    with pytest.raises(
        ShapeError,
        match=r"Linear\(784 -> 512\) got input of shape \(128, 28, 28\); expected \(\*, 784\)",
    ):
        nn.Linear(784, 512)(cr.zeros(128, 28, 28))


def test_linear_rejects_a_non_positive_size():
    with pytest.raises(ArgumentError, match="out_features=0"):
        nn.Linear(3, 0)


# ------------------------------------------------------------------------ init


@pytest.mark.parametrize(
    "name, expected_std",
    [
        ("xavier_uniform", math.sqrt(2 / (400 + 300))),
        ("xavier_normal", math.sqrt(2 / (400 + 300))),
        ("kaiming_uniform", math.sqrt(2 / 300)),
        ("kaiming_normal", math.sqrt(2 / 300)),
        ("lecun_normal", math.sqrt(1 / 300)),
        ("inv_sqrt_fan_in_normal", 1 / math.sqrt(300)),
    ],
)
def test_initializers_have_the_published_spread(name, expected_std):
    w = cr.zeros(400, 300)  # (out, in): fan_in 300, fan_out 400
    nn.init.get_initializer(name)(w)
    assert w.numpy().std() == pytest.approx(expected_std, rel=0.03)
    assert abs(w.numpy().mean()) < 0.01 * expected_std * 10


def test_xavier_uniform_bound_is_sqrt_6_over_fan_sum():
    w = nn.init.xavier_uniform_(cr.zeros(50, 30))
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / 80)
    assert np.abs(w.numpy()).max() > 0.95 * math.sqrt(6 / 80)


def test_truncated_normal_stays_within_two_std():
    w = nn.init.truncated_normal_(cr.zeros(200, 200), std=0.5)
    assert np.abs(w.numpy()).max() <= 1.0


def test_conv_fans_count_the_receptive_field():
    assert nn.init.calculate_fan_in_and_fan_out((64, 32, 3, 3)) == (32 * 9, 64 * 9)


def test_initializers_are_reproducible_under_manual_seed():
    cr.manual_seed(7)
    a = nn.Linear(5, 5).weight.numpy()
    cr.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(5, 5).weight.numpy(), a)


def test_unknown_initializer_lists_the_known_ones():
    with pytest.raises(ArgumentError, match="he_normal"):
        nn.Linear(3, 3, weight_init="bogus")


def test_parameter_keeps_float64_and_owns_its_memory():
    source = np.zeros(3)
    p = nn.Parameter(source)
    assert p.dtype == cr.float32  # numpy data gets the default dtype, as Tensor does
    p64 = nn.Parameter(cr.tensor([1.0], dtype="float64"))
    assert p64.dtype == cr.float64
    assert nn.Linear(3, 2, dtype="float64").weight.dtype == cr.float64
    kept = np.ones(2, dtype=np.float32)
    q = nn.Parameter(kept)
    q.data += 1
    np.testing.assert_array_equal(kept, [1.0, 1.0])


def test_evaluating_sets_eval_mode_and_no_grad_and_restores_each_module_even_on_error():
    from chainrule.nn.modes import evaluating

    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    model.train()
    model[1].eval()  # a mixed state: it comes back as it was, module by module
    before = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="inside"), evaluating(model):
        assert not any(m.training for m in model.modules())
        assert not model(cr.randn(4, 3)).requires_grad  # no graph
        raise RuntimeError("inside")
    assert [m.training for m in model.modules()] == before
    assert cr.is_grad_enabled()


def test_summary_goes_through_forward_hooks_and_leaves_none_behind():
    import chainrule.nn.module as module_file

    m = TwoLayer()
    seen = []
    m.hidden.register_forward_hook(lambda module, inputs, out: seen.append(out.shape))
    text = m.summary((4,), print_fn=None)
    assert "hidden (Linear)" in text and "(None, 8)" in text and "(None, 3)" in text
    assert seen == [(2, 8)]  # the user's hook ran once, in the summary's pass
    assert [name for name, module in m.named_modules() if module._forward_hooks] == ["hidden"]
    assert len(m.hidden._forward_hooks) == 1
    assert not hasattr(module_file, "_recording")  # no global checked in every __call__
