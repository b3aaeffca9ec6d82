"""Reusing layers: freeze / unfreeze / requires_grad_, batch norm pinned to eval, partial
loading with strict=False, and replacing the head."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentTypeError, ShapeError


def body_and_head():
    cr.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)
    )


def one_step(model, optimizer, seed=1):
    x = np.random.default_rng(seed).normal(size=(16, 4)).astype(np.float32)
    y = np.arange(16) % 3
    model.train()
    loss = cr.functional.cross_entropy(model(cr.tensor(x)), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_freeze_on_a_sequential_slice_stops_exactly_those_layers_learning():
    model = body_and_head()
    model[:2].freeze()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    one_step(model, optimizer)
    after = model.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("3.weight", "5.weight", "5.bias"):
        assert not np.array_equal(after[key], before[key]), key
    frozen = [p for p in model[:2].parameters()]
    assert all(p.grad is None for p in frozen)
    assert not any(p in optimizer.state for p in frozen)  # no Adam moments for frozen weights
    assert model.num_parameters(trainable_only=True) == 8 * 6 + 6 + 6 * 3 + 3


def test_frozen_batchnorm_stays_in_eval_mode_through_train_unless_asked_otherwise():
    model = body_and_head()
    model[:2].freeze()
    model.train()
    assert model[1].training is False and model[0].training is True
    model.unfreeze()
    assert model[1].training is False and model[1].weight.requires_grad
    model.train()
    assert model[1].training is True
    model[:2].freeze(batchnorm_eval=False)  # PyTorch's requires_grad_(False): statistics move
    model.train()
    assert model[1].training is True
    running = model[1].running_mean.numpy().copy()
    one_step(model, optim.SGD(model.parameters(), lr=0.1))
    assert not np.array_equal(model[1].running_mean.numpy(), running)


def test_requires_grad_refuses_a_non_bool_and_says_what_it_got():
    with pytest.raises(ArgumentTypeError, match="expected True or False; got 'no'"):
        body_and_head().requires_grad_("no")


def test_load_state_dict_non_strict_reports_matched_missing_and_unexpected_keys():
    source, target = body_and_head(), body_and_head()
    target.replace_head(5)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("5.")}
    state["extra.weight"] = np.zeros(2, dtype=np.float32)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["5.weight", "5.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    assert "0.weight" in result.matched_keys and "1.running_var" in result.matched_keys
    missing, unexpected, _ = result  # PyTorch's (missing_keys, unexpected_keys) come first
    assert missing == ["5.weight", "5.bias"] and unexpected == ["extra.weight"]
    np.testing.assert_array_equal(target[0].weight.numpy(), source[0].weight.numpy())


def test_load_state_dict_strict_refuses_unexpected_keys_and_names_them():
    model = body_and_head()
    state = {**model.state_dict(), "extra.weight": np.zeros(2, dtype=np.float32)}
    with pytest.raises(ShapeError, match="unexpected keys: extra.weight"):
        model.load_state_dict(state)


def test_load_state_dict_refuses_a_shape_mismatch_even_when_not_strict_and_copies_nothing():
    source, target = body_and_head(), body_and_head()
    target.replace_head(5)
    before = target[0].weight.numpy().copy()
    with pytest.raises(ShapeError, match=r"5.weight: expected \(5, 6\), got \(3, 6\)"):
        target.load_state_dict(source.state_dict(), strict=False)
    np.testing.assert_array_equal(target[0].weight.numpy(), before)


def test_replace_head_swaps_the_output_layer_for_a_fresh_one_with_the_new_classes():
    model = body_and_head()
    old_body = model[3].weight
    head = model.replace_head(10)
    assert model[5] is head and (head.in_features, head.out_features) == (6, 10)
    assert model[3].weight is old_body
    assert model(cr.tensor(np.zeros((2, 4), dtype=np.float32))).shape == (2, 10)


def test_replace_head_refuses_a_model_whose_last_weight_layer_is_not_linear():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    with pytest.raises(ArgumentTypeError, match="must be a Linear; got Conv2d"):
        model.replace_head(3)


def test_replacing_a_layer_keeps_its_place_in_the_sequential():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(axis=1))
    model[0] = nn.Linear(4, 8)
    head = model.replace_head(5)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "Softmax"]
    assert model[2] is head
    assert model(cr.tensor(np.zeros((2, 4), dtype=np.float32))).shape == (2, 5)
