"""``evaluate``, ``predict``, ``predict_proba``: a model over a whole data set, in eval mode,
without a graph (``nn.modes.evaluating``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import TensorLike
from chainrule.errors import ArgumentError
from chainrule.nn.loss import LossFn, get_loss
from chainrule.nn.modes import evaluating
from chainrule.nn.module import Module
from chainrule.train.callbacks import Logs
from chainrule.train.data_adapter import FitData, as_loader, to_model_device
from chainrule.train.metrics import Metric, get_metric, softmax, takes_sample_weight
from chainrule.train.strategy import Strategy
from chainrule.train.weights import check_weighted_loss


def evaluate(
    model: Module,
    data: FitData,
    *,
    loss: str | LossFn,
    metrics: Sequence[str | Metric] = ("accuracy",),
    batch_size: int = 256,
    sample_weight: TensorLike | None = None,
) -> Logs:
    """Loss and metrics of ``model`` on ``data`` ((x, y) arrays, (x, y, sample_weight), a
    Dataset or a DataLoader); with weights, the weighted mean loss and weighted metrics."""
    if not isinstance(model, Module):
        raise ArgumentError(f"model must be a chainrule.nn.Module; got {type(model).__name__}")
    loss_fn = get_loss(loss)
    named_metrics = [get_metric(m) for m in metrics]
    if sample_weight is not None:
        if not (isinstance(data, tuple | list) and len(data) == 2):
            raise ArgumentError("evaluate: sample_weight needs data as (x, y) arrays")
        data = (data[0], data[1], sample_weight)
    return evaluate_model(model, data, loss_fn, named_metrics, batch_size=batch_size)


def evaluate_model(
    model: Module,
    data: FitData,
    loss_fn: LossFn,
    metrics: Sequence[tuple[str, Metric]],
    *,
    batch_size: int = 256,
    strategy: Strategy | None = None,
) -> Logs:
    """Loss and the named ``metrics`` over ``data`` (a loader, or what ``as_loader`` takes);
    under a distributed ``strategy``, over the shares of every process."""
    strategy = strategy or Strategy()
    loader = (
        data
        if hasattr(data, "iterate")
        else as_loader(data, batch_size, shuffle=False, role="evaluation")
    )
    loader = strategy.distribute(loader, training=False)
    with evaluating(model):
        sums = _sums(model, loader, loss_fn, keep_outputs=bool(metrics))
    parts = strategy.all_gather(sums)
    loss_sum, count = sum(part[0] for part in parts), sum(part[1] for part in parts)
    outputs = [o for part in parts for o in part[2]]
    targets = [t for part in parts for t in part[3]]
    weights = [w for part in parts for w in part[4]]
    logs = {"loss": loss_sum / count if count > 0 else math.nan}
    if metrics:
        all_outputs, all_targets = np.concatenate(outputs), np.concatenate(targets)
        all_weights = np.concatenate(weights) if weights else None
        for name, metric in metrics:
            if all_weights is not None and takes_sample_weight(metric):
                logs[name] = metric(all_outputs, all_targets, sample_weight=all_weights)
            else:
                logs[name] = metric(all_outputs, all_targets)
    return logs


def _sums(
    model: Module, loader: Any, loss_fn: LossFn, keep_outputs: bool
) -> tuple[float, float, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(loss sum, count or total weight, outputs, targets, weights) of this process's share;
    outputs and targets (host copies) only when ``keep_outputs``."""
    outputs, targets, weights, loss_sum, count = [], [], [], 0.0, 0.0
    for batch in loader.iterate(loader.epoch_order(), start=0):
        x, y, *weight = to_model_device(model, *batch)
        out = model(x)
        if not weight:  # the mean loss times the batch's count
            loss_sum += float(loss_fn(out, y).item()) * len(x)
            count += len(x)
        else:  # the weighted mean loss times the batch's total weight
            if not weights:
                check_weighted_loss(loss_fn)
            total = float(weight[0].sum().item())
            if total > 0:
                value = loss_fn(out, y, sample_weight=weight[0]).item()
                loss_sum += float(value) * total
            count += total
            weights.append(weight[0].numpy())
        if keep_outputs:
            outputs.append(out.numpy())
            targets.append(y.numpy())
    return loss_sum, count, outputs, targets, weights


def predict(model: Module, x: TensorLike, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for inputs ``x`` (N, ...) as a NumPy array, in eval mode."""
    loader = as_loader((x, None), batch_size, shuffle=False, role="prediction")
    with evaluating(model):
        outputs = [model(batch[0]).numpy() for batch in loader.iterate(loader.epoch_order())]
    return np.concatenate(outputs)


def predict_proba(model: Module, x: TensorLike, batch_size: int = 256) -> np.ndarray:
    """Class probabilities: softmax of the outputs (N, C), or sigmoid for one output."""
    logits = predict(model, x, batch_size).astype(np.float64)
    if logits.ndim == 2 and logits.shape[1] > 1:
        return softmax(logits)
    return 1 / (1 + np.exp(-logits))
