"""Learning-rate schedules: each lr sequence against its formula, plateaus, state round trip."""

import math

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.optim import lr_scheduler as ls


def make_optimizer(lr=0.1, second_group_lr=None):
    groups = [{"params": [nn.Parameter(np.zeros(2))], "lr": lr}]
    if second_group_lr is not None:
        groups.append({"params": [nn.Parameter(np.zeros(2))], "lr": second_group_lr})
    return optim.SGD(groups, lr=lr)


def lr_sequence(schedule, steps):
    """The lr of the first group at k = 0, 1, ..., steps - 1."""
    lrs = []
    for _ in range(steps):
        lrs.append(schedule.optimizer.param_groups[0]["lr"])
        schedule.step()
    return lrs


def test_linear_decay_is_the_lectures_formula_at_0_half_tau_tau_and_beyond():
    eps0, eps_tau, tau = 0.1, 0.001, 10
    schedule = ls.LinearDecay(make_optimizer(eps0), final_lr=eps_tau, tau=tau)
    lrs = lr_sequence(schedule, 2 * tau + 1)
    assert lrs[0] == pytest.approx(eps0)
    assert lrs[tau // 2] == pytest.approx(0.5 * eps0 + 0.5 * eps_tau)
    assert lrs[tau] == pytest.approx(eps_tau)
    assert lrs[2 * tau] == pytest.approx(eps_tau)
    for k, lr in enumerate(lrs[: tau + 1]):
        alpha = k / tau
        assert lr == pytest.approx((1 - alpha) * eps0 + alpha * eps_tau)


@pytest.mark.parametrize(
    "make, formula",
    [
        (lambda o: ls.StepLR(o, step_size=3, gamma=0.5), lambda k: 0.1 * 0.5 ** (k // 3)),
        (
            lambda o: ls.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1),
            lambda k: 0.1 * 0.1 ** sum(k >= m for m in (2, 5, 9)),
        ),
        (lambda o: ls.ExponentialLR(o, gamma=0.9), lambda k: 0.1 * 0.9**k),
        (
            lambda o: ls.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
            lambda k: 0.01 + 0.09 * (1 + math.cos(math.pi * min(k, 10) / 10)) / 2,
        ),
        (lambda o: ls.LambdaLR(o, lambda k: 1 / (1 + k)), lambda k: 0.1 / (1 + k)),
        (lambda o: ls.LinearWarmup(o, warmup_steps=4), lambda k: 0.1 * min(k / 4, 1.0)),
        (
            lambda o: ls.LinearWarmup(o, 4, start_factor=0.2, after=ls.ExponentialLR(o, 0.5)),
            lambda k: 0.1 * (0.2 + 0.8 * k / 4) if k < 4 else 0.1 * 0.5 ** (k - 4),
        ),
    ],
    ids=["StepLR", "MultiStepLR", "ExponentialLR", "Cosine", "LambdaLR", "Warmup", "Warmup+after"],
)
def test_schedule_follows_its_formula(make, formula):
    lrs = lr_sequence(make(make_optimizer(0.1)), 25)
    np.testing.assert_allclose(lrs, [formula(k) for k in range(25)], rtol=1e-12)


def test_cosine_annealing_stays_at_eta_min_after_t_max():
    lrs = lr_sequence(ls.CosineAnnealingLR(make_optimizer(0.1), T_max=4, eta_min=0.01), 10)
    assert lrs[4:] == [pytest.approx(0.01)] * 6


def test_one_cycle_rises_to_max_lr_then_falls_to_max_lr_over_div_factors():
    schedule = ls.OneCycleLR(make_optimizer(), max_lr=1.0, total_steps=21, pct_start=0.5)
    lrs = lr_sequence(schedule, 25)
    peak = 0.5 * 21 - 1
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert max(lrs) == pytest.approx(1.0, abs=1e-2)
    assert np.all(np.diff(lrs[: int(peak) + 1]) > 0) and np.all(
        np.diff(lrs[int(peak) + 1 : 21]) < 0
    )
    assert lrs[20:] == [pytest.approx(1.0 / 25 / 1e4)] * 5
    k = 5
    assert lrs[k] == pytest.approx(1.0 + (1 / 25 - 1.0) * (1 + math.cos(math.pi * k / peak)) / 2)


def test_each_group_is_scheduled_from_its_own_initial_lr():
    opt = make_optimizer(0.1, second_group_lr=0.02)
    schedule = ls.StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    schedule.step()
    assert schedule.get_last_lr() == pytest.approx([0.025, 0.005])
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    assert all(isinstance(g["lr"], float) for g in opt.param_groups)


def test_state_dict_round_trip_resumes_the_schedule():
    opt = make_optimizer(0.1)
    schedule = ls.CosineAnnealingLR(opt, T_max=20)
    uninterrupted = lr_sequence(schedule, 12)

    first_opt = make_optimizer(0.1)
    first = ls.CosineAnnealingLR(first_opt, T_max=20)
    lr_sequence(first, 7)
    saved_opt, saved_schedule = first_opt.state_dict(), first.state_dict()

    resumed_opt = make_optimizer(0.1)
    resumed = ls.CosineAnnealingLR(resumed_opt, T_max=20)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_schedule)
    assert resumed.last_epoch == 7
    assert lr_sequence(resumed, 5) == pytest.approx(uninterrupted[7:])


def plateau_lrs(schedule, metrics):
    lrs = []
    for metric in metrics:
        schedule.step(metric)
        lrs.append(schedule.get_last_lr()[0])
    return lrs


def test_reduce_lr_on_plateau_waits_more_than_patience_steps():
    schedule = ls.ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=2)
    lrs = plateau_lrs(schedule, [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0])
    # best 4.0 at step 2; steps 3, 4 are bad (= patience); step 5 is the third: reduce.
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_reduce_lr_on_plateau_ignores_bad_steps_during_cooldown():
    schedule = ls.ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1, cooldown=2)
    lrs = plateau_lrs(schedule, [3.0] * 9)
    # reduce after 2 bad steps, then 2 cooldown steps that do not count.
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_reduce_lr_on_plateau_needs_improvement_beyond_the_threshold():
    rel = ls.ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=0, threshold=0.1)
    assert plateau_lrs(rel, [10.0, 9.5, 8.0]) == [1.0, 0.5, 0.5]  # 9.5 > 10 * 0.9
    absolute = ls.ReduceLROnPlateau(
        make_optimizer(1.0), mode="max", factor=0.5, patience=0, threshold=1.0, threshold_mode="abs"
    )
    assert plateau_lrs(absolute, [0.0, 0.5, 2.0]) == [1.0, 0.5, 0.5]  # 0.5 < 0 + 1


def test_reduce_lr_on_plateau_stops_at_min_lr():
    schedule = ls.ReduceLROnPlateau(make_optimizer(1.0), factor=0.1, patience=0, min_lr=0.05)
    assert plateau_lrs(schedule, [1.0, 1.0, 1.0, 1.0]) == pytest.approx([1.0, 0.1, 0.05, 0.05])


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0]
    uninterrupted = plateau_lrs(
        ls.ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1, cooldown=1), metrics
    )
    first_opt = make_optimizer(1.0)
    first = ls.ReduceLROnPlateau(first_opt, factor=0.5, patience=1, cooldown=1)
    plateau_lrs(first, metrics[:4])
    resumed_opt = make_optimizer(1.0)
    resumed = ls.ReduceLROnPlateau(resumed_opt, factor=0.5, patience=1, cooldown=1)
    resumed_opt.load_state_dict(first_opt.state_dict())
    resumed.load_state_dict(first.state_dict())
    assert plateau_lrs(resumed, metrics[4:]) == uninterrupted[4:]


class _Trainer:
    """What the callback sees of a trainer: the optimiser, and a log."""

    def __init__(self, optimizer):
        self.optimizer, self.lines = optimizer, []

    def log(self, line):
        self.lines.append(line)


@pytest.mark.parametrize("threshold_mode", ["abs", "rel"])
def test_the_plateau_callback_follows_the_schedulers_rule_step_for_step(threshold_mode):
    from chainrule.train.callbacks import ReduceLROnPlateau

    losses = [5.0, 4.0, 4.0, 3.99995, 4.0, 3.0, 3.0, 3.0, 3.0, 2.9, 2.9, 2.9]
    settings = dict(factor=0.5, patience=1, cooldown=1, min_lr=0.1)
    schedule = ls.ReduceLROnPlateau(
        make_optimizer(1.0), threshold=1e-4, threshold_mode=threshold_mode, **settings
    )
    callback = ReduceLROnPlateau(threshold_mode=threshold_mode, verbose=True, **settings)
    callback.set_trainer(_Trainer(make_optimizer(1.0)))
    callback.on_train_begin()
    from_callback = []
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        from_callback.append(callback.trainer.optimizer.param_groups[0]["lr"])
    assert from_callback == plateau_lrs(schedule, losses)
    assert callback.trainer.lines[0] == "epoch 4: reducing learning rate to 0.5"


def test_the_plateau_callback_takes_kerass_min_delta_as_an_absolute_threshold():
    from chainrule.train.callbacks import ReduceLROnPlateau

    callback = ReduceLROnPlateau(min_delta=0.5, patience=0, factor=0.5, verbose=False)
    callback.set_trainer(_Trainer(make_optimizer(1.0)))
    callback.on_train_begin()
    for epoch, loss in enumerate([10.0, 9.6, 9.0]):  # 9.6 > 10 - 0.5: not an improvement
        callback.on_epoch_end(epoch, {"val_loss": loss})
    assert callback.trainer.optimizer.param_groups[0]["lr"] == 0.5
    assert callback.best == 9.0


def test_the_plateau_callback_resumes_from_the_counters_it_used_to_save():
    from chainrule.train.callbacks import ReduceLROnPlateau

    callback = ReduceLROnPlateau(patience=1, factor=0.5, verbose=False)
    callback.set_trainer(_Trainer(make_optimizer(1.0)))
    callback.on_train_begin()
    callback.load_state_dict({"best": 2.0, "wait": 1, "cooldown_left": 0})
    callback.on_epoch_end(0, {"val_loss": 2.0})  # the second bad epoch in a row
    assert callback.trainer.optimizer.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda o: ls.LinearDecay(o, final_lr=-1.0, tau=10), ArgumentError, "final_lr"),
        (
            lambda o: ls.LinearDecay(o, final_lr=0.01, tau=0),
            ArgumentError,
            "tau must be an integer >= 1",
        ),
        (lambda o: ls.StepLR(o, step_size=2.5), ArgumentError, "step_size"),
        (lambda o: ls.StepLR(o, step_size=2, gamma=0), ArgumentError, "gamma must be a positive"),
        (lambda o: ls.MultiStepLR(o, [5, 2]), ArgumentError, "strictly increasing"),
        (lambda o: ls.CosineAnnealingLR(o, T_max=0), ArgumentError, "T_max"),
        (lambda o: ls.LambdaLR(o, 0.5), ArgumentTypeError, "lr_lambda must be a function"),
        (lambda o: ls.LinearWarmup(o, 3, after=0.5), ArgumentTypeError, "after"),
        (
            lambda o: ls.LinearWarmup(o, 3, after=ls.StepLR(make_optimizer(), 1)),
            ArgumentError,
            "different optimiser",
        ),
        (
            lambda o: ls.OneCycleLR(o, max_lr=1.0, total_steps=3, pct_start=0.1),
            ArgumentError,
            "peak",
        ),
        (
            lambda o: ls.ReduceLROnPlateau(o, mode="up"),
            ArgumentError,
            "mode must be 'min' or 'max'",
        ),
        (
            lambda o: ls.ReduceLROnPlateau(o, factor=1.0),
            ArgumentError,
            r"factor must be in \(0, 1\)",
        ),
        (lambda o: ls.ReduceLROnPlateau(o, patience=-1), ArgumentError, "patience"),
        (lambda o: ls.StepLR("sgd", 1), ArgumentTypeError, "needs an optimiser"),
    ],
)
def test_invalid_arguments_raise_errors_that_say_what_was_wrong(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer())
