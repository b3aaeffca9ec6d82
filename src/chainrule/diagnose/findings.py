"""Findings: what went wrong in a run, read from its learning curves and layer statistics.

Pure functions from a history (``{"loss": [...], "val_loss": [...], ...}`` per epoch),
the ``Monitor``'s diagnostics (layers, per-layer series, every step's loss) and an
optional human-level or target error, to a list of ``Finding``s, most important first.
Each finding carries its evidence in numbers and the remedies the lectures give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chainrule.diagnose.advice import fitted_remedies, suppress_after_divergence
from chainrule.diagnose.base import KINDS, REMEDIES, SEVERITIES, Finding, percent
from chainrule.diagnose.curves import curve_findings
from chainrule.diagnose.gradients import layer_findings
from chainrule.errors import ArgumentError

__all__ = ["KINDS", "SEVERITIES", "Finding", "bias_variance", "diagnose", "final_errors"]

# Half a percentage point is about twice the standard error of an error rate near 1%
# measured on 2,000 examples (sqrt(0.01 * 0.99 / 2000) = 0.22%): gaps below it are within
# the noise of a typical dev set, so both gaps under it is "close to human level".
NEAR_HUMAN_TOLERANCE = 0.005


def diagnose(
    history: Mapping[str, Sequence[float]],
    diagnostics: Mapping[str, Any] | None = None,
    human_error: float | None = None,
    finished: bool = True,
) -> list[Finding]:
    """Every finding about a run, most important first.

    ``history``: per-epoch logs (``loss``, ``val_loss``, ``accuracy``, ...);
    ``diagnostics``: what ``Monitor.diagnostics()`` returns (or None: curves only);
    ``human_error``: human-level or target error, as a fraction, for bias/variance;
    ``finished=False`` for a run still under way: underfitting is not judged yet.
    """
    batch_loss = list((diagnostics or {}).get("batch_loss", []))
    steps = list((diagnostics or {}).get("epoch_steps", []))
    findings = curve_findings(history, batch_loss, steps, finished)
    if diagnostics is not None:
        findings += layer_findings(diagnostics)
    if human_error is not None:
        errors = final_errors(history, diagnostics)
        if errors is None:
            raise ArgumentError(
                "a human-level error needs the training and validation error: log 'accuracy' "
                f"with validation data; logged: {sorted(history)}"
            )
        train_error, dev_error, train_source = errors
        findings.append(bias_variance(human_error, train_error, dev_error, train_source))
    findings = suppress_after_divergence(findings)
    settings = (diagnostics or {}).get("settings")
    findings = [fitted_remedies(f, settings, diagnostics) for f in findings]
    return sorted(findings, key=Finding.importance)


# ------------------------------------------------------------ bias / variance
def bias_variance(
    human_error: float, train_error: float, dev_error: float, train_source: str = ""
) -> Finding:
    """The lecture's table: avoidable bias = train - human, variance = dev - train; the
    larger gap names the problem, unless both are within ``NEAR_HUMAN_TOLERANCE``.
    Errors are fractions in [0, 1] (1% = 0.01); ``train_source`` says how the training
    error was measured (shown in the evidence)."""
    for name, value in (
        ("human_error", human_error),
        ("train_error", train_error),
        ("dev_error", dev_error),
    ):
        if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
            raise ArgumentError(f"{name} must be a fraction in [0, 1] (1% = 0.01); got {value!r}")
    bias, variance = train_error - human_error, dev_error - train_error
    values = {
        "human_error": human_error,
        "train_error": train_error,
        "dev_error": dev_error,
        "avoidable_bias": bias,
        "variance": variance,
    }
    evidence = (
        f"human-level error {percent(human_error)}, training error {percent(train_error)}"
        f"{f' ({train_source})' if train_source else ''}, dev error {percent(dev_error)} "
        f"(the final model on the validation data): avoidable bias {percent(bias)} (train - human), "
        f"variance {percent(variance)} (dev - train)"
    )
    if max(bias, variance) < NEAR_HUMAN_TOLERANCE:
        return Finding(
            "near_human",
            "info",
            "Close to human level: both gaps are under "
            f"{percent(NEAR_HUMAN_TOLERANCE)}, within the noise of a dev-set estimate",
            evidence,
            REMEDIES["near_human"],
            values=values,
        )
    if bias >= variance:
        return Finding(
            "avoidable_bias",
            "warning",
            f"Avoidable bias ({percent(bias)}) is the larger gap: the model underfits the training set",
            evidence,
            REMEDIES["avoidable_bias"],
            values=values,
        )
    return Finding(
        "variance",
        "warning",
        f"Variance ({percent(variance)}) is the larger gap: the model does not generalise to the dev set",
        evidence,
        REMEDIES["variance"],
        values=values,
    )


def final_errors(
    history: Mapping[str, Sequence[float]], diagnostics: Mapping[str, Any] | None = None
) -> tuple[float, float, str] | None:
    """(training error, validation error, how the training error was measured).

    The training error is the final model's, in eval mode, on training samples when a
    ``Monitor`` measured it (``diagnostics["final_errors"]``); otherwise the running
    accuracy of the last epoch, measured while the weights moved and dropout was on.
    """
    if "val_accuracy" not in history or not history["val_accuracy"]:
        return None
    dev_error = 1.0 - float(history["val_accuracy"][-1])
    measured = (diagnostics or {}).get("final_errors")
    if measured and measured.get("train_error") is not None:
        source = (
            f"the final model in eval mode on {int(measured['train_samples'])} training samples"
        )
        return float(measured["train_error"]), dev_error, source
    if "accuracy" not in history or not history["accuracy"]:
        return None
    source = "running accuracy over the last epoch, in training mode (dropout on)"
    return 1.0 - float(history["accuracy"][-1]), dev_error, source
