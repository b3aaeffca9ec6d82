"""Findings from the per-layer statistics a ``Monitor`` records: vanishing and exploding
gradients, update-to-weight ratios far from 1e-3, dead ReLUs and saturated units."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from chainrule.diagnose.base import REMEDIES, Finding, median, orders_of_magnitude

# first/last layer gradient norm: two orders of magnitude apart is "vanishing" ...
VANISHING_RATIO = 1e-2
# ... and two orders the other way (the first layer far steeper) is "exploding"
EXPLODING_RATIO = 1e2
# a layer's gradient norm 100x its first-epoch value: it is blowing up
GRADIENT_GROWTH = 1e2
# ||dW|| / ||W|| per step: the rule of thumb is ~1e-3; 30x that rewrites W in ~30 steps
UPDATE_RATIO_HIGH = 3e-2
# ... and 10x below it (healthy runs measure 2e-3 to 7e-3): the weights barely move
UPDATE_RATIO_LOW = 1e-4
# 40% of a ReLU layer never active: that much capacity lost for good (healthy digits MLPs
# measured up to 13%, a 256-unit net trained into overfitting 25%)
DEAD_FRACTION = 0.4
# a layer's gradient norm above its weight norm (median over epochs): one plain step of
# rate 1 would more than rewrite the weights; healthy runs measure 0.01 to 0.1
GRAD_TO_WEIGHT = 1.0
# a quarter of sigmoid/tanh outputs in the flat tails, passing almost no gradient
SATURATED_FRACTION = 0.25


def layer_findings(diagnostics: Mapping[str, Any]) -> list[Finding]:
    """Findings from the per-layer series a ``Monitor`` recorded."""
    layers = diagnostics.get("layers", [])
    stats = diagnostics.get("stats", {})
    flow = gradient_flow(layers, stats)
    units = [f for f in (dead_relus(layers, stats), saturation(layers, stats)) if f is not None]
    if flow is not None and flow.values.get("ratio") == 0.0 and units:
        # the zero gradient is what the dead or saturated units do: one finding, not two
        units[0] = replace(
            units[0], evidence=f"{units[0].evidence}; {flow.title[0].lower()}{flow.title[1:]}"
        )
        flow = None
    return [f for f in (flow, update_ratio(layers, stats), *units) if f is not None]


def _label(layer: Mapping[str, str]) -> str:
    return f"layer {layer['name'] or '(model)'} ({layer['type']})"


def gradient_flow(
    layers: Sequence[Mapping[str, str]], stats: Mapping[str, Mapping[str, Sequence[float]]]
) -> Finding | None:
    """Vanishing or exploding gradients: first/last weight layer gradient norms, NaN, growth."""
    weighted = [layer for layer in layers if stats.get(layer["name"], {}).get("grad_norm")]
    if not weighted:
        return None
    for layer in weighted:
        series = stats[layer["name"]]["grad_norm"]
        bad = next((e for e, v in enumerate(series) if not math.isfinite(v)), None)
        if bad is not None:
            return Finding(
                "exploding_gradients",
                "critical",
                "Exploding gradients: a gradient norm became NaN or infinite",
                f"the gradient norm of {_label(layer)} was {series[bad]} in epoch {bad + 1}",
                REMEDIES["exploding"],
                epoch=bad,
                values={"non_finite": 1.0},
            )
        positive = [v for v in series if v > 0]
        if positive and series[0] > 0 and max(series) > GRADIENT_GROWTH * series[0]:
            peak = max(range(len(series)), key=series.__getitem__)
            return Finding(
                "exploding_gradients",
                "critical",
                "Exploding gradients: the gradient norm grew by orders of magnitude",
                f"the gradient norm of {_label(layer)} grew from {series[0]:.3g} in epoch 0 to "
                f"{series[peak]:.3g} in epoch {peak + 1} ({series[peak] / series[0]:.3g}x)",
                REMEDIES["exploding"],
                epoch=peak,
                values={"growth": series[peak] / series[0]},
            )
    steep = [  # the first weight layer: gradients explode on their way back to it
        (layer, median(stats[layer["name"]]["grad_norm"]) / median(weight))
        for layer in weighted[:1]
        if (weight := stats[layer["name"]].get("weight_norm")) and median(weight) > 0
    ]
    if steep and max(r for _, r in steep) > GRAD_TO_WEIGHT:
        layer, ratio = max(steep, key=lambda item: item[1])
        return Finding(
            "exploding_gradients",
            "warning",
            "Exploding gradients: a layer's gradient is larger than its weights",
            f"gradient norm / weight norm of {_label(layer)} is {ratio:.3g} (median over epochs; "
            f"healthy runs measure 0.01 to 0.1): the activations and gradients grow through "
            "the layers",
            REMEDIES["exploding_init"],
            values={"grad_to_weight": ratio},
        )
    dense = [layer for layer in weighted if layer["role"] == "weight"] or weighted
    if len(dense) < 2:
        return None
    first, last = dense[0], dense[-1]
    g_first, g_last = stats[first["name"]]["grad_norm"], stats[last["name"]]["grad_norm"]
    ratios = [a / b for a, b in zip(g_first, g_last) if b > 0]
    if not ratios:
        return None
    ratio = median(ratios)
    if ratio == 0.0:  # a zero gradient is evidence too: nothing reaches the first layer
        return Finding(
            "vanishing_gradients",
            "warning",
            f"No gradient reaches the first {_label(first)}: its gradient norm is 0",
            f"gradient norm of the first {_label(first)} 0 vs the last {_label(last)} "
            f"{median(g_last):.3g} (median over {len(ratios)} epochs): the units between them "
            "pass nothing back (dead ReLUs or saturated units)" + _activation_spread(layers, stats),
            REMEDIES["units"],
            values={"ratio": 0.0, "first": 0.0, "last": median(g_last)},
        )
    evidence = (
        f"gradient norm of the first {_label(first)} {median(g_first):.3g} vs the last "
        f"{_label(last)} {median(g_last):.3g} (median over {len(ratios)} epochs): "
        f"ratio first/last = {ratio:.3g}"
    )
    spread = _activation_spread(layers, stats)
    values = {"ratio": ratio, "first": median(g_first), "last": median(g_last)}
    if ratio < VANISHING_RATIO:
        return Finding(
            "vanishing_gradients",
            "warning",
            f"Vanishing gradients: the first layer's gradient is {orders_of_magnitude(ratio)} orders of "
            "magnitude below the last's",
            evidence + spread,
            REMEDIES["vanishing_gradients"],
            values=values,
        )
    if ratio > EXPLODING_RATIO:
        return Finding(
            "exploding_gradients",
            "warning",
            f"Exploding gradients: the first layer's gradient is {orders_of_magnitude(ratio)} orders of "
            "magnitude above the last's",
            evidence,
            REMEDIES["exploding"],
            values=values,
        )
    return None


def _activation_spread(
    layers: Sequence[Mapping[str, str]], stats: Mapping[str, Mapping[str, Sequence[float]]]
) -> str:
    """'; activation spread ...' from the first to the last hidden nonlinearity, when known."""
    nonlinear = [
        layer
        for layer in layers
        if layer["role"] in ("relu", "sigmoid", "tanh", "activation")
        and stats.get(layer["name"], {}).get("act_std")
    ]
    if len(nonlinear) < 2:
        return ""
    first, last = nonlinear[0], nonlinear[-1]
    return (
        f"; activation spread (std) {stats[first['name']]['act_std'][0]:.3g} after "
        f"{_label(first)} and {stats[last['name']]['act_std'][0]:.3g} after {_label(last)} "
        "in epoch 0"
    )


def update_ratio(
    layers: Sequence[Mapping[str, str]], stats: Mapping[str, Mapping[str, Sequence[float]]]
) -> Finding | None:
    """Per-step update ||dW|| / ||W|| far from the rule of thumb 1e-3, in the median layer."""
    # NOTE: the first epoch moves fresh small weights by a large fraction in any healthy
    # run (measured up to 6e-2 at batch size 10): it is judged only when it is all there is
    per_layer = [
        (layer, median(series[1:] or series))
        for layer in layers
        if (
            series := [
                v for v in stats.get(layer["name"], {}).get("update_ratio", []) if math.isfinite(v)
            ]
        )
    ]
    if not per_layer:
        return None
    typical = median([ratio for _, ratio in per_layer])
    epochs = max(
        len(stats.get(layer["name"], {}).get("update_ratio", [])) for layer, _ in per_layer
    )
    listing = ", ".join(f"{_label(layer)} {ratio:.2g}" for layer, ratio in per_layer)
    if typical > UPDATE_RATIO_HIGH and epochs > 1:
        return Finding(
            "update_ratio",
            "warning",
            "Updates are large next to the weights: the learning rate is probably too high",
            f"update/weight ratio ||dW||/||W|| per step (median over epochs): {listing}; "
            f"the rule of thumb is about 1e-3",
            REMEDIES["exploding"][:2],
            values={"update_ratio": typical},
        )
    if typical < UPDATE_RATIO_LOW:
        return Finding(
            "update_ratio",
            "warning",
            "Updates are tiny next to the weights: the learning rate is probably too low",
            f"update/weight ratio ||dW||/||W|| per step (median over epochs): {listing}; "
            f"the rule of thumb is about 1e-3",
            ["a larger learning rate (chainrule.diagnose.lr_find suggests one)"],
            values={"update_ratio": typical},
        )
    return None


def dead_relus(
    layers: Sequence[Mapping[str, str]], stats: Mapping[str, Mapping[str, Sequence[float]]]
) -> Finding | None:
    """ReLU layers where at least DEAD_FRACTION of the units never fire on the monitoring batch."""
    dead = [
        (layer, stats[layer["name"]]["dead_fraction"][-1])
        for layer in layers
        if stats.get(layer["name"], {}).get("dead_fraction")
        and stats[layer["name"]]["dead_fraction"][-1] >= DEAD_FRACTION
    ]
    if not dead:
        return None
    worst = max(fraction for _, fraction in dead)
    return Finding(
        "dead_relu",
        "warning",
        f"Dead ReLUs: up to {worst:.0%} of a layer's units never activate",
        "units never active on the monitoring batch in the last epoch: "
        + ", ".join(f"{_label(layer)} {fraction:.0%}" for layer, fraction in dead),
        REMEDIES["units"],
        values={"dead_fraction": worst},
    )


def saturation(
    layers: Sequence[Mapping[str, str]], stats: Mapping[str, Mapping[str, Sequence[float]]]
) -> Finding | None:
    """Sigmoid/tanh layers with at least SATURATED_FRACTION of their outputs in the flat tails."""
    saturated = [
        (layer, stats[layer["name"]]["saturated_fraction"][-1])
        for layer in layers
        if stats.get(layer["name"], {}).get("saturated_fraction")
        and stats[layer["name"]]["saturated_fraction"][-1] >= SATURATED_FRACTION
    ]
    if not saturated:
        return None
    worst = max(fraction for _, fraction in saturated)
    return Finding(
        "saturation",
        "warning",
        f"Saturated units: up to {worst:.0%} of a layer's outputs sit in the flat tails",
        "outputs saturated (sigmoid < 0.01 or > 0.99, |tanh| > 0.99) on the monitoring batch "
        "in the last epoch: "
        + ", ".join(f"{_label(layer)} {fraction:.0%}" for layer, fraction in saturated),
        REMEDIES["units"],
        values={"saturated_fraction": worst},
    )
