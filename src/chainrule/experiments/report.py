"""What a run reports: test metrics from class probabilities, and the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.metrics import confusion_matrix, precision_recall


def classification_report(
    probabilities: np.ndarray, labels: np.ndarray, loss: float, num_classes: int
) -> dict[str, Any]:
    """Accuracy, loss, per-class precision / recall / F1 and the confusion matrix (rows: true)."""
    per_class = precision_recall(probabilities, labels, num_classes)
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    return {
        "test": {
            "accuracy": accuracy,
            "accuracy_percent": round(100 * accuracy, 2),
            "loss": float(loss),
            "samples": len(labels),
        },
        "per_class": {name: values.tolist() for name, values in per_class.items()},
        "confusion_matrix": confusion_matrix(probabilities, labels, num_classes).tolist(),
    }


def cross_entropy_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """-mean log p[label]: the loss of (averaged) probabilities, floored at 1e-12."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(picked, 1e-12)).mean())


def machine() -> dict[str, Any]:
    """CPU model, core counts, OS, Python and NumPy versions."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def to_json(value: Any, depth: int = 0) -> str:
    """JSON text indented by structure, with lists of plain values (a matrix row) on one line."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {to_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [f"{inner}{to_json(v, depth + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)
