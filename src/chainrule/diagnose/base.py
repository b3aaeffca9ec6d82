"""What a finding is: its kinds and severities, in order of importance, and the remedies
the lectures give for each problem."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

SEVERITIES = ("critical", "warning", "info")
KINDS = (  # importance within a severity: causes (gradient flow) before symptoms (curves);
    # a learning rate too high (oscillation) before the units it kills, dead or saturated
    # units before the vanishing gradients they cause
    "divergence",
    "exploding_gradients",
    "oscillation",
    "dead_relu",
    "saturation",
    "vanishing_gradients",
    "plateau",
    "update_ratio",
    "overfitting",
    "underfitting",
    "avoidable_bias",
    "variance",
    "near_human",
)

# ------------------------------------------------------------------- remedies
REMEDIES: dict[str, list[str]] = {
    "vanishing_gradients": [
        "ReLU or ELU instead of sigmoid/tanh in the hidden layers",
        "He initialisation for ReLU layers, Xavier/Glorot for tanh/sigmoid "
        "(Linear(..., weight_init='he_normal'))",
        "batch normalisation after the linear layers (nn.BatchNorm1d)",
        "residual connections around blocks of layers (nn.Residual)",
    ],
    "exploding": [
        "a lower learning rate (3-10x lower)",
        "gradient clipping (fit(..., clip_grad_norm=1.0))",
        "batch normalisation (nn.BatchNorm1d)",
    ],
    "exploding_init": [
        "a smaller initialisation: He for ReLU, Xavier/Glorot for tanh/sigmoid "
        "(Linear(..., weight_init='he_normal'))",
        "batch normalisation after the linear layers (nn.BatchNorm1d)",
        "gradient clipping (fit(..., clip_grad_norm=1.0))",
    ],
    "units": [
        "a careful initialisation (He for ReLU, Xavier/Glorot for tanh/sigmoid)",
        "leaky ReLU (nn.LeakyReLU(0.01)), whose units always pass some gradient",
        "a lower learning rate",
        "biases initialised to 0.1 (bias_init=lambda b: nn.init.constant_(b, 0.1))",
    ],
    "oscillation": [
        "shuffle the training data every epoch (fit(..., shuffle=True))",
        "a larger batch size",
        "a lower learning rate, or a decaying one (optim.lr_scheduler, ReduceLROnPlateau)",
    ],
    "plateau": [
        "check the initialisation (He for ReLU, Xavier/Glorot for tanh/sigmoid)",
        "normalise the inputs to zero mean and unit variance (chainrule.data.standardize)",
        "batch normalisation (nn.BatchNorm1d)",
        "a slightly larger learning rate (chainrule.diagnose.lr_find suggests one)",
    ],
    "overfitting": [
        "early stopping (EarlyStopping(monitor='val_loss', restore_best_weights=True))",
        "L2 regularisation (weight_decay, or regularizer=nn.L1L2(l2=...))",
        "dropout (nn.Dropout)",
        "data augmentation (chainrule.data.transforms)",
        "more training data",
    ],
    "underfitting": [
        "a bigger model (more units or layers)",
        "train longer",
        "less regularisation (less weight decay, lower dropout)",
    ],
    "avoidable_bias": [
        "a bigger model (more units or layers)",
        "train longer, or with a better optimiser (momentum, RMSprop, Adam)",
        "another architecture or hyperparameters (chainrule.tune)",
    ],
    "variance": [
        "more training data",
        "regularisation: L2, dropout, data augmentation, early stopping",
        "another architecture or hyperparameters (chainrule.tune)",
    ],
    "near_human": [
        "error analysis: look at the dev-set mistakes one by one",
        "better or more data where the model and humans disagree",
    ],
}


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` (see ``KINDS``), ``severity`` ('critical', 'warning', 'info'),
    a one-line ``title``, the ``evidence`` in numbers, what to try, the epoch it concerns,
    and its key numbers in ``values``."""

    kind: str
    severity: str
    title: str
    evidence: str
    remedies: list[str]
    epoch: int | None = None  # an index into the history (0 = the first); printed as epoch + 1
    values: dict[str, float] = field(default_factory=dict)

    def importance(self) -> tuple[int, int]:
        """Sort key: more severe first, then causes before symptoms."""
        return SEVERITIES.index(self.severity), KINDS.index(self.kind)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def orders_of_magnitude(ratio: float) -> str:
    """'2.0' for 0.01 or 100; 'inf' for a ratio of 0 or infinity, 'nan' for NaN."""
    if math.isnan(ratio):
        return "nan"
    if ratio <= 0.0 or math.isinf(ratio):
        return "inf"
    return f"{abs(math.log10(ratio)):.1f}"
