"""Anomaly mode names the first op that made a NaN or an infinity, forward or backward."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import AnomalyError, ChainruleError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_log_of_a_negative_is_named_in_forward():
    x = cr.tensor([1.0, -1.0, 2.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(AnomalyError) as info:
        x.log()
    message = str(info.value)
    assert message.startswith("Log produced 1 NaN among 3 values in forward")
    assert "output of shape (3,)" in message and "every input was finite" in message
    assert "test_anomaly.py" in message  # the user's line, not chainrule's


def test_sqrt_at_zero_is_named_in_backward():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly():
        y = x.sqrt().sum()  # forward is finite: sqrt(0) = 0
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert message.startswith("Sqrt produced 1 inf among 2 values in backward")
    assert "gradient of input 0 (shape (2,))" in message
    assert "incoming gradient was finite" in message


def test_anomaly_error_is_a_chainrule_runtime_error():
    assert issubclass(AnomalyError, ChainruleError)
    assert issubclass(AnomalyError, RuntimeError)


def test_without_anomaly_mode_nan_propagates_silently():
    x = cr.tensor([0.0, -1.0], requires_grad=True)
    y = (x.log() + x.sqrt()).sum()
    y.backward()
    assert np.isnan(y.item())
    assert not cr.autograd.is_anomaly_enabled()


def test_nan_in_the_data_is_reported_at_the_first_op_that_receives_it():
    x = cr.tensor([1.0, np.nan])
    w = cr.tensor([2.0, 3.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(AnomalyError, match=r"^Mul produced 1 NaN") as info:
        x * w
    assert "input 0 already held NaN or inf" in str(info.value)


def test_the_first_layer_that_overflows_in_a_model_is_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    nn.init.constant_(model[0].weight, 10.0)
    x = cr.tensor(np.full((5, 3), 1e38, dtype=np.float32))
    with cr.detect_anomaly(), pytest.raises(AnomalyError, match=r"^Linear produced .*inf"):
        model(x)


def test_a_division_by_zero_in_a_loss_is_named_in_backward():
    logits = cr.tensor([[0.5, -0.5]], requires_grad=True)
    scale = cr.tensor([0.0], requires_grad=True)
    with cr.detect_anomaly():
        loss = (F.softmax(logits) * scale).sum() / (scale * scale + 1.0).sum()
        with pytest.raises(AnomalyError, match=r"^(Mul|Div) produced"):
            (loss / scale.sum()).backward()


def test_training_steps_under_anomaly_mode_match_steps_without_it():
    def train(anomaly):
        cr.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        x = cr.randn(16, 4)
        y = cr.tensor(np.arange(16) % 3)
        with cr.detect_anomaly(anomaly):
            for _ in range(5):
                loss = F.cross_entropy(model(x), y)
                model.zero_grad()
                loss.backward()
                opt.step()
        return [p.numpy() for p in model.parameters()]

    for a, b in zip(train(True), train(False)):
        np.testing.assert_array_equal(a, b)


def test_the_decorator_form_switches_on_and_restores_the_mode_after_an_error():
    @cr.detect_anomaly()
    def bad():
        assert cr.autograd.is_anomaly_enabled()
        return cr.tensor([-1.0]).log()

    with pytest.raises(AnomalyError):
        bad()
    assert not cr.autograd.is_anomaly_enabled()


def test_set_detect_anomaly_switches_the_mode_for_the_process():
    cr.autograd.set_detect_anomaly(True)
    try:
        with pytest.raises(AnomalyError, match="^Exp"):
            cr.tensor([1000.0]).exp()
    finally:
        cr.autograd.set_detect_anomaly(False)
    assert np.isinf(cr.tensor([1000.0]).exp().item())
