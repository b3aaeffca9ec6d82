"""Remedies fitted to the run: drop what the run already does, name its own settings, and
scale the learning-rate advice with the evidence of how far too high it is.

``settings`` is what a ``Monitor`` recorded when training began (optimizer, lr, batch
size, shuffle, training-set size); without it the lectures' generic remedies stand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from chainrule.diagnose.base import REMEDIES, Finding

# healthy runs measured ||dW|| / ||W|| per step of 5e-3 to 2.6e-2 in their first epoch
# (digits MLPs and CNNs, Adam 1e-3, SGD 0.05-0.5): a ratio x times this is a rate ~x times too high
HEALTHY_FIRST_UPDATE = 1e-2
# the loss NaN or exploded within this many steps: the rate is orders of magnitude too
# high, not 3x (digits MLP, SGD: 50x too high exploded at step 3, 500x at step 1) ...
EARLY_STEPS = 10
# ... and by this factor over its start (267x at 50x too high, 5e12x at 500x): 1000x
FAR_EXPLOSION = 1e3
# below this batch size the gradient noise itself makes the loss jump from step to step
SMALL_BATCH = 64

# kinds whose numbers mean nothing once a run diverged: its losses and rates are the
# blow-up's, not the model's
AFTER_DIVERGENCE_SUPPRESSED = (
    "oscillation",
    "plateau",
    "update_ratio",
    "vanishing_gradients",
    "overfitting",
    "underfitting",
    "avoidable_bias",
    "variance",
    "near_human",
)


def suppress_after_divergence(findings: Sequence[Finding]) -> list[Finding]:
    """Once a run diverged, keep the divergence and what it did to the units; say what was left out."""
    diverged = next((f for f in findings if f.kind == "divergence"), None)
    if diverged is None:
        return list(findings)
    dropped = sorted({f.kind for f in findings if f.kind in AFTER_DIVERGENCE_SUPPRESSED})
    kept = [f for f in findings if f.kind not in AFTER_DIVERGENCE_SUPPRESSED]
    if dropped:
        note = (
            f"; after a divergence the later numbers are the blow-up's, so these findings "
            f"are left out: {', '.join(k.replace('_', ' ') for k in dropped)}"
        )
        kept = [replace(f, evidence=f.evidence + note) if f is diverged else f for f in kept]
    return kept


def lr_too_high_factor(diagnostics: Mapping[str, Any] | None, divergence: Finding) -> float | None:
    """How many times too high the learning rate looks: the largest per-epoch update ratio
    over the healthy first-epoch ratio; at least 100 when the loss went NaN or exploded
    within EARLY_STEPS steps, 1000 when it exploded FAR_EXPLOSION-fold that early."""
    stats = (diagnostics or {}).get("stats", {})
    ratios = [
        v
        for series in stats.values()
        for v in series.get("update_ratio", [])
        if isinstance(v, int | float) and math.isfinite(v) and v > 0
    ]
    factor = max(ratios) / HEALTHY_FIRST_UPDATE if ratios else None
    values = divergence.values
    step = values.get("step", math.nan)
    if math.isfinite(step) and step < EARLY_STEPS:
        early = 100.0
        start, peak = values.get("start", math.nan), values.get("peak", math.nan)
        if values.get("non_finite") or (start > 0 and peak / start > FAR_EXPLOSION):
            early = 1000.0
        factor = max(factor or 0.0, early)
    return factor


def _lower_lr(settings: Mapping[str, Any], factor: float | None) -> str:
    """'a lower learning rate ...', as far below the current one as the evidence says."""
    lr = settings.get("lr")
    now = f" (now {lr:.3g})" if isinstance(lr, int | float) else ""
    if factor is None or factor < 10:
        low, high = 3, 10
    else:
        exponent = round(math.log10(factor))
        low, high = 10 ** max(exponent - 1, 1), 10 ** (exponent + 1)
    if isinstance(lr, int | float) and lr > 0:
        return f"a learning rate {low}-{high}x lower{now}: try {lr / high:.2g} to {lr / low:.2g}"
    return f"a learning rate {low}-{high}x lower{now}"


def fitted_remedies(
    finding: Finding,
    settings: Mapping[str, Any] | None,
    diagnostics: Mapping[str, Any] | None = None,
) -> Finding:
    """``finding`` with remedies that fit the run: the ones it already follows dropped,
    its own numbers in them, the learning-rate step sized by the evidence."""
    settings = dict(settings or {})
    kind = finding.kind
    if kind == "oscillation":
        remedies = []
        if settings.get("shuffle") is False:
            remedies.append(REMEDIES["oscillation"][0])
        remedies.append(_lower_lr(settings, None) + ", or a decaying one (optim.lr_scheduler)")
        batch = settings.get("batch_size")
        if isinstance(batch, int) and batch > 0:
            if batch < SMALL_BATCH:
                remedies.append(f"a larger batch size (now {batch}: try {4 * batch})")
        else:
            remedies.append(REMEDIES["oscillation"][1])
        return replace(finding, remedies=remedies)
    if kind in ("divergence", "exploding_gradients"):
        factor = lr_too_high_factor(diagnostics, finding)
        remedies = [_lower_lr(settings, factor), *REMEDIES["exploding"][1:]]
        if settings.get("clip_grad_norm") is not None:
            remedies = [r for r in remedies if "clipping" not in r]
        return replace(finding, remedies=remedies)
    return finding
