"""Findings from the learning curves: divergence, oscillation, a plateau at the start,
overfitting (with the epoch where validation loss turned) and underfitting.

Each reads the per-epoch training (and validation) loss, and, when a ``Monitor`` kept
them, every step's loss: the sharper evidence for spikes and plateaus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from chainrule.diagnose.base import REMEDIES, Finding

# the training loss ends at twice its minimum: the run went backwards ...
DIVERGE_FACTOR = 2.0
# ... by at least 10% of the starting loss, so jitter near zero is no blow-up
DIVERGE_MIN_RISE = 0.1
# the mean loss of 5 consecutive steps 3x the starting loss: updates threw the model off a
# cliff; one unlucky small batch alone is no explosion
EXPLODED_BATCH = 3.0
EXPLODE_WINDOW = 5
# the epoch-mean training loss rising 5% (and by 1% of the starting loss, so jitter near
# zero is no rise): with a fitting learning rate it falls every epoch ...
OSC_RISE = 0.05
OSC_MATERIAL = 0.01
# ... twice in a run is oscillation, not chance
OSC_RISES = 2
# ... and, where every step's loss is known, the rise must stand out of the batch noise:
# one standard error of the difference of two epoch means (batch noise shrinks with the
# batch size, so a small-batch run's jumpy steps raise no alarm)
OSC_RISE_Z = 1.0
# validation loss swinging 20% (and 5% of the starting loss) up then down, or down then
# up, between epochs ...
OSC_SWING = 0.2
OSC_SWING_MATERIAL = 0.05
# ... twice in a run
OSC_SWINGS = 2
# within epochs: the mean loss of a window of steps rising over the previous window's by
# 3 standard errors (the noise the batch size implies) and by 2% of the starting loss
WINDOW_MIN = 10
WINDOW_Z = 3.0
WINDOW_MATERIAL = 0.02
# ... twice in a run
WINDOW_RISES = 2
# NOTE: single steps are not judged: one batch's loss jumping far above its neighbours
# is what small batches do (nielsen-fc at batch size 10, which reaches 97.8%, has such
# steps on 1.3% of its steps even against their robust spread); only the smoothed loss
# and the epoch means, whose noise shrinks as they average, are evidence of oscillation.
# steps the plateau test averages (at most) to see through batch noise
PLATEAU_WINDOW = 20
# the loss has "started to fall" once 10% below its start: clear of batch noise
PLATEAU_DROP = 0.1
# two epochs without that 10%: a healthy run's first epoch alone does far more
PLATEAU_EPOCHS = 2.0
# validation loss 5% above its minimum ...
OVERFIT_RISE = 0.05
# ... for the 3 epochs (at least) after it: a sustained rise, not noise
OVERFIT_PATIENCE = 3
# the training loss still above half its start when training ends: both losses high
UNDERFIT_FRACTION = 0.5


def curve_findings(
    history: Mapping[str, Sequence[float]],
    batch_loss: Sequence[float] = (),
    epoch_steps: Sequence[int] = (),
    finished: bool = True,
) -> list[Finding]:
    """Findings from the loss curves: divergence, oscillation, plateau, over- and underfitting.

    ``batch_loss``: every step's training loss (optional, sharper evidence);
    ``epoch_steps``: how many steps had run at the end of each epoch.
    """
    train = [float(v) for v in history.get("loss", [])]
    val = [float(v) for v in history.get("val_loss", [])]
    if not train and not batch_loss:
        return []
    start = _start_loss(train, batch_loss)
    diverged = divergence(train, batch_loss, start)
    if diverged is not None and diverged.values.get("non_finite"):
        return [diverged]  # nothing after a NaN means anything
    stalled = plateau(train, batch_loss, epoch_steps, start)
    flat_epochs = stalled.values["plateau_epochs"] if stalled is not None else 0.0
    findings = [
        diverged,
        oscillation(train, val, batch_loss, epoch_steps, start, flat_epochs),
        stalled,
        overfitting(train, val),
        underfitting(train, val, start) if finished else None,
    ]
    return [f for f in findings if f is not None]


def _start_loss(train: Sequence[float], batch_loss: Sequence[float]) -> float:
    """The loss before learning: the first step's, else epoch 0's mean."""
    if batch_loss and math.isfinite(batch_loss[0]):
        return float(batch_loss[0])
    return train[0] if train else math.nan


def divergence(train: Sequence[float], batch_loss: Sequence[float], start: float) -> Finding | None:
    """A NaN/inf loss, one exploded batch, or a training loss that ends far above its minimum."""
    bad = [i for i, v in enumerate(batch_loss) if not math.isfinite(v)]
    bad_epochs = [e for e, v in enumerate(train) if not math.isfinite(v)]
    if bad or bad_epochs:
        where = f"at step {bad[0]}" if bad else f"in epoch {bad_epochs[0] + 1}"
        return Finding(
            "divergence",
            "critical",
            "Training diverged: the loss became NaN or infinite",
            f"the training loss was {batch_loss[bad[0]] if bad else train[bad_epochs[0]]} {where} "
            f"(it started at {start:.4g})",
            REMEDIES["exploding"],
            epoch=bad_epochs[0] if bad_epochs else None,
            values={"non_finite": 1.0, "step": float(bad[0]) if bad else math.nan},
        )
    if batch_loss and math.isfinite(start) and start > 0:
        level = [
            sum(batch_loss[t : t + EXPLODE_WINDOW]) / len(batch_loss[t : t + EXPLODE_WINDOW])
            for t in range(max(1, len(batch_loss) - EXPLODE_WINDOW + 1))
        ]
        peak = max(range(len(level)), key=level.__getitem__)
        if level[peak] > EXPLODED_BATCH * start:
            return Finding(
                "divergence",
                "critical",
                "The loss exploded on some steps",
                f"the training loss reached {level[peak]:.4g} (mean of {EXPLODE_WINDOW} steps "
                f"from step {peak}), {level[peak] / start:.1f}x its start ({start:.4g})",
                REMEDIES["exploding"],
                values={"peak": level[peak], "step": float(peak), "start": start},
            )
    if len(train) >= 2:
        low = min(range(len(train)), key=train.__getitem__)
        last = train[-1]
        if last > DIVERGE_FACTOR * train[low] and last - train[low] > DIVERGE_MIN_RISE * start:
            return Finding(
                "divergence",
                "critical",
                "Training is diverging: the training loss went back up",
                f"the training loss fell to {train[low]:.4g} at epoch {low + 1}, then rose to "
                f"{last:.4g} by epoch {len(train)} ({last / train[low]:.1f}x)",
                REMEDIES["exploding"],
                epoch=low,
                values={"min": train[low], "last": last},
            )
    return None


def oscillation(
    train: Sequence[float],
    val: Sequence[float],
    batch_loss: Sequence[float],
    epoch_steps: Sequence[int],
    start: float,
    after_epoch: float = 0.0,
) -> Finding | None:
    """The loss going up and down by more than its noise: epoch-mean training loss rising,
    validation loss swinging, or the smoothed step loss rising, each judged against the
    noise the batch size implies and by a material fraction of the starting loss.

    ``after_epoch``: epochs of a plateau at the start, whose wandering is not oscillation.
    """
    if not (math.isfinite(start) and start > 0):
        return None
    evidence, values = [], {}
    rises = _epoch_rises(train, batch_loss, epoch_steps, start, after_epoch)
    if len(rises) >= OSC_RISES:
        evidence.append(
            f"the training loss rose by more than {OSC_RISE:.0%} (and {OSC_MATERIAL:.0%} of the "
            f"starting loss{', beyond its batch noise' if batch_loss else ''}) in {len(rises)} "
            f"epochs ({', '.join(f'epoch {e + 1}: {train[e - 1]:.4g} -> {train[e]:.4g}' for e in rises[:3])})"
        )
        values["rises"] = float(len(rises))
    swings = _swings(val, OSC_SWING_MATERIAL * start)
    if len(swings) >= OSC_SWINGS:
        evidence.append(
            f"the validation loss swung by more than {OSC_SWING:.0%} (and "
            f"{OSC_SWING_MATERIAL * start:.3g}) up and down {len(swings)} times "
            f"(around epochs {', '.join(str(e + 1) for e in swings[:5])})"
        )
        values["swings"] = float(len(swings))
    window, jumps = _window_rises(batch_loss, epoch_steps, start, after_epoch)
    if len(jumps) >= WINDOW_RISES:
        worst = max(jumps, key=lambda j: j[1])
        evidence.append(
            f"the mean loss of {window}-step windows rose {len(jumps)} times by more than "
            f"{WINDOW_Z:g} standard errors of its batch noise and {WINDOW_MATERIAL:.0%} of the "
            f"starting loss (worst: +{worst[1]:.3g} at step {worst[0]})"
        )
        values["window_rises"] = float(len(jumps))
    if not evidence:
        return None
    return Finding(
        "oscillation",
        "warning",
        "The loss oscillates: the learning rate is probably too high",
        "; ".join(evidence),
        REMEDIES["oscillation"],
        epoch=rises[0] if rises else None,
        values=values,
    )


def _mean_and_error(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample std / sqrt(n)) of a stretch of step losses;
    huge or non-finite losses give inf or NaN, never an exception."""
    n = len(values)
    with np.errstate(all="ignore"):
        array = np.asarray(values, dtype=np.float64)
        mean = float(array.mean())
        if n < 2:
            return mean, math.inf
        return mean, float(array.std(ddof=1) / math.sqrt(n))


def _epoch_rises(
    train: Sequence[float],
    batch_loss: Sequence[float],
    epoch_steps: Sequence[int],
    start: float,
    after_epoch: float,
) -> list[int]:
    """Epochs whose mean training loss rose OSC_RISE over the epoch before, by OSC_MATERIAL
    of the start, and (when every step's loss is known) by OSC_RISE_Z standard errors."""
    bounds = [0, *epoch_steps]
    noise: dict[int, float] = {}
    if batch_loss and len(epoch_steps) == len(train):
        for e in range(len(train)):
            stretch = batch_loss[bounds[e] : bounds[e + 1]]
            noise[e] = _mean_and_error(stretch)[1] if stretch else math.inf
    rises = []
    for e in range(1, len(train)):
        rise = train[e] - train[e - 1]
        if rise <= OSC_RISE * train[e - 1] or rise <= OSC_MATERIAL * start:
            continue
        if noise and rise <= OSC_RISE_Z * math.hypot(noise[e], noise[e - 1]):
            continue
        if e <= after_epoch:
            continue
        rises.append(e)
    return rises


def _window_rises(
    batch_loss: Sequence[float], epoch_steps: Sequence[int], start: float, after_epoch: float
) -> tuple[int, list[tuple[int, float]]]:
    """(window, [(step, rise)]): windows of steps (a quarter epoch, at least WINDOW_MIN)
    whose mean loss rose over the previous window's beyond WINDOW_Z standard errors and
    WINDOW_MATERIAL of the starting loss."""
    finite = [v for v in batch_loss if math.isfinite(v)]
    if len(finite) != len(batch_loss):
        return 0, []
    per_epoch = epoch_steps[0] if epoch_steps and epoch_steps[0] else len(batch_loss)
    window = max(WINDOW_MIN, per_epoch // 4)
    stats = [
        _mean_and_error(batch_loss[t : t + window])
        for t in range(0, len(batch_loss) - window + 1, window)
    ]
    jumps = []
    for k in range(1, len(stats)):
        (before, se_before), (now, se_now) = stats[k - 1], stats[k]
        rise = now - before
        if (
            k * window >= after_epoch * per_epoch
            and rise > WINDOW_MATERIAL * start
            and rise > WINDOW_Z * math.hypot(se_before, se_now)
        ):
            jumps.append((k * window, rise))
    return window, jumps


def _swings(values: Sequence[float], material: float) -> list[int]:
    """Epochs where the curve reverses after a move of over OSC_SWING (relative) and
    ``material`` (absolute) each way."""
    moves = [
        (values[e] - values[e - 1], (values[e] - values[e - 1]) / abs(values[e - 1]))
        if values[e - 1]
        else (0.0, 0.0)
        for e in range(1, len(values))
    ]
    return [
        e + 1
        for e in range(len(moves) - 1)
        if all(abs(rel) > OSC_SWING and abs(move) > material for move, rel in moves[e : e + 2])
        and moves[e][0] * moves[e + 1][0] < 0
    ]


def plateau(
    train: Sequence[float], batch_loss: Sequence[float], epoch_steps: Sequence[int], start: float
) -> Finding | None:
    """A long flat stretch at the start: no 10% fall for PLATEAU_EPOCHS epochs (or ever)."""
    target = (1 - PLATEAU_DROP) * start
    if batch_loss and epoch_steps:
        per_epoch = epoch_steps[0] if epoch_steps[0] else len(batch_loss)
        window = max(1, min(PLATEAU_WINDOW, per_epoch // 4))
        smoothed = [
            sum(batch_loss[t - window : t]) / window for t in range(window, len(batch_loss) + 1)
        ]
        fell = next((i + window for i, v in enumerate(smoothed) if v <= target), None)
        flat_steps = fell if fell is not None else len(batch_loss)
        flat_epochs = flat_steps / per_epoch
        ran_epochs = len(batch_loss) / per_epoch
    elif len(train) >= 2:
        fell = next(
            (e for e in range(1, len(train)) if train[e] <= (1 - PLATEAU_DROP) * train[0]), None
        )
        flat_epochs = float(fell if fell is not None else len(train))
        ran_epochs = float(len(train))
        start = train[0]
    else:
        return None
    if flat_epochs < PLATEAU_EPOCHS:
        return None
    end = train[-1] if train else batch_loss[-1]
    if fell is None:
        title = "The loss has not started to fall: a plateau from the start"
        evidence = (
            f"after {ran_epochs:.3g} epochs the training loss is {end:.4g}, less than "
            f"{PLATEAU_DROP:.0%} below its start ({start:.4g})"
        )
    else:
        title = "A long plateau at the start of training"
        evidence = (
            f"the training loss stayed within {PLATEAU_DROP:.0%} of its start ({start:.4g}) "
            f"for {flat_epochs:.3g} epochs before it began to fall"
        )
    return Finding(
        "plateau",
        "warning",
        title,
        evidence,
        REMEDIES["plateau"],
        epoch=0,
        values={"plateau_epochs": flat_epochs, "start": start, "ended": float(fell is not None)},
    )


def overfitting(train: Sequence[float], val: Sequence[float]) -> Finding | None:
    """Validation loss past its minimum and staying up while the training loss falls."""
    finite = [e for e, v in enumerate(val) if math.isfinite(v)]
    if len(finite) < OVERFIT_PATIENCE + 1 or len(train) != len(val):
        return None
    turn = min(finite, key=val.__getitem__)
    after = list(range(turn + 1, len(val)))
    if len(after) < OVERFIT_PATIENCE:
        return None
    bar = val[turn] * (1 + OVERFIT_RISE)
    if not all(val[e] > bar for e in after[-OVERFIT_PATIENCE:]):
        return None
    if not sum(train[e] for e in after) / len(after) < train[turn]:
        return None
    last = len(val) - 1
    lowest = min(after, key=train.__getitem__)
    return Finding(
        "overfitting",
        "warning",
        f"Overfitting: the validation loss turned at epoch {turn + 1} while the training loss kept falling",
        f"validation loss lowest at epoch {turn + 1} ({val[turn]:.4g}), {val[last]:.4g} by epoch {last + 1} "
        f"({val[last] / val[turn] - 1:+.0%}); meanwhile the training loss fell from "
        f"{train[turn]:.4g} to {train[lowest]:.4g} (epoch {lowest + 1}); gap now {val[last] - train[last]:.4g}",
        REMEDIES["overfitting"],
        epoch=turn,
        values={"turn_epoch": float(turn), "val_min": val[turn], "val_last": val[last]},
    )


def underfitting(train: Sequence[float], val: Sequence[float], start: float) -> Finding | None:
    """Both losses high: the training loss still above UNDERFIT_FRACTION of its start."""
    if len(train) < 2 or not math.isfinite(start) or start <= 0:
        return None
    last = train[-1]
    if last < UNDERFIT_FRACTION * start:
        return None
    val_text = f", validation loss {val[-1]:.4g}" if val and math.isfinite(val[-1]) else ""
    return Finding(
        "underfitting",
        "warning",
        "Underfitting: training and validation loss both stay high",
        f"after {len(train)} epochs the training loss is {last:.4g}{val_text}, "
        f"{last / start:.0%} of the starting loss {start:.4g}",
        REMEDIES["underfitting"],
        values={"last": last, "start": start},
    )
