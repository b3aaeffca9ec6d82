"""The running statistics of an epoch: loss, penalty and metrics summed step by step.

Each step's statistics are sums over its samples (times ``count``; weighted metrics times
their total ``weight``), so a distributed strategy can add them up over processes and
the epoch's averages are the sums divided at the end. On the CPU they are floats. On a
device (a GPU) they stay device scalars, summed there, and are read back in one copy,
together with the flags of the loss's deferred target checks (``backend.checks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module, to_numpy
from chainrule.backend.checks import Pending, raise_flagged
from chainrule.train.callbacks import Logs
from chainrule.train.metrics import DEVICE_HITS, Metric, takes_sample_weight

# The statistics that are not logged themselves: denominators, and the penalty (logged
# apart, per epoch).
_NOT_LOGGED = ("count", "penalty", "weight")


class EpochStats:
    """The sums of the epoch under way (``totals``) and how to turn sums into logs."""

    def __init__(self, metrics: Sequence[tuple[str, Metric]]) -> None:
        self.metrics = list(metrics)
        self.weighs = {name: takes_sample_weight(metric) for name, metric in self.metrics}
        self.totals: dict[str, Any] = {}  # floats; on a device, device scalars until read
        self.deferred_checks: Pending = []

    def start_epoch(self) -> None:
        self.totals = {"loss": 0.0, "count": 0.0, **{name: 0.0 for name, _ in self.metrics}}

    def add(self, stats: dict[str, Any]) -> None:
        """Add one step's statistics to the epoch's totals."""
        for name, value in stats.items():
            self.totals[name] = self.totals.get(name, 0.0) + value

    # ------------------------------------------------------------ one step
    def host_step(
        self,
        n: int,
        out: Tensor,
        y: Tensor,
        loss: Tensor,
        penalty: Tensor | None,
        sample_weight: Tensor | None,
    ) -> dict[str, Any]:
        """The step's statistics as floats (on the CPU)."""
        stats = {"count": float(n), "loss": float(loss.item()) * n}
        if penalty is not None:
            stats["penalty"] = float(penalty.item()) * n
        if self.metrics:
            outputs, targets = out.numpy(), y.numpy()
            weight = None if sample_weight is None else sample_weight.numpy()
            if weight is not None:
                stats["weight"] = float(weight.sum())
            for name, metric in self.metrics:
                stats[name] = self._metric_sum(name, metric, outputs, targets, weight)
        return stats

    def device_step(
        self,
        n: int,
        out: Tensor,
        y: Tensor,
        loss: Tensor,
        penalty: Tensor | None,
        sample_weight: Tensor | None,
    ) -> dict[str, Any]:
        """The step's statistics as device scalars (float64), nothing read back; a metric
        without a device version (``metrics.DEVICE_HITS``) copies outputs and targets."""
        stats: dict[str, Any] = {"count": float(n), "loss": loss.data.astype("float64") * n}
        if penalty is not None:
            stats["penalty"] = penalty.data.astype("float64") * n
        if not self.metrics:
            return stats
        weight = None if sample_weight is None else sample_weight.data.astype("float64")
        if weight is not None:
            stats["weight"] = weight.sum()
        host: Any = None
        for name, metric in self.metrics:
            hits = DEVICE_HITS.get(metric)
            weighs = weight is not None and self.weighs[name]
            if hits is not None:
                found = hits(out.data, y.data)
                stats[name] = (found * weight).sum() if weighs else found.sum(dtype="float64")
                continue
            if host is None:
                host = (out.numpy(), y.numpy(), None if weight is None else to_numpy(weight))
            stats[name] = self._metric_sum(name, metric, *host)
        return stats

    def _metric_sum(
        self, name: str, metric: Metric, outputs: Any, targets: Any, weight: Any
    ) -> float:
        """The metric times its denominator: the total weight if it weighs, else the count."""
        if weight is None or not self.weighs[name]:
            return metric(outputs, targets) * len(outputs)
        total = float(weight.sum())
        return metric(outputs, targets, sample_weight=weight) * total if total > 0 else 0.0

    # ------------------------------------------------------------ reading
    def read_back(self, stats: dict[str, Any]) -> Logs:
        """A device step's logs, read back in one copy with the totals and the deferred
        checks."""
        step = {k: v for k, v in stats.items() if not isinstance(v, Real)}
        values = self._fetch(list(step.values()))
        return self.averages({**stats, **dict(zip(step, values))})

    def host_totals(self) -> dict[str, float]:
        """The epoch's running sums as floats (read back from a device if need be)."""
        if self._device_totals():
            self._fetch([])
        return dict(self.totals)

    def running_logs(self) -> Logs:
        """The epoch's averages so far: loss and metrics, weighted by batch size (on a
        device, read back in one copy if they are not yet)."""
        if self.deferred_checks or self._device_totals():
            self._fetch([])
        return self.averages(self.totals)

    def mean_penalty(self) -> float:
        """The epoch's mean penalty per sample (after ``running_logs`` has read it back)."""
        return self.totals.get("penalty", 0.0) / max(self.totals["count"], 1)

    def averages(self, sums: dict[str, float]) -> Logs:
        """Sums of statistics -> means: per sample, or per unit of weight for weighted metrics."""
        logs = {}
        for name, value in sums.items():
            if name in _NOT_LOGGED:
                continue
            weighted = "weight" in sums and self.weighs.get(name, False)
            denominator = sums["weight"] if weighted else max(sums.get("count", 0.0), 1.0)
            logs[name] = value / denominator if denominator > 0 else 0.0
        return logs

    def _device_totals(self) -> dict[str, Any]:
        """The running sums still on a device (the others are host numbers)."""
        return {k: v for k, v in self.totals.items() if not isinstance(v, Real)}

    def _fetch(self, step_values: list[Any]) -> list[float]:
        """``step_values`` (device scalars), the totals still on the device and the flags
        of the deferred checks, in one copy: the totals become floats, a set flag raises
        its error; returns ``step_values`` as floats."""
        totals = self._device_totals()
        flags = [flag for flag, _ in self.deferred_checks]
        everything = [*step_values, *totals.values(), *flags]
        if not everything:
            return []
        xp = get_array_module(everything[0])
        host = to_numpy(xp.stack([xp.asarray(v, dtype="float64") for v in everything])).tolist()
        k = len(step_values)
        self.totals.update(zip(totals, host[k : k + len(totals)]))
        raise_flagged(self.deferred_checks, host[k + len(totals) :])
        return host[:k]
