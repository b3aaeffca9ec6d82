"""Shared helpers for the benchmarks: warm up, repeat, take the median, print ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(
    step: Callable[[], object], *, repeats: int = 30, warmup: int = 5, inner: int = 1
) -> float:
    """Median wall time of ``step`` in seconds (each sample averages ``inner`` calls)."""
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def interleaved(
    steps: dict[str, Callable[[], object]], rounds: int, repeats: int, inner: int = 1
) -> dict[str, float]:
    """Median seconds per step of each implementation, measured in alternating rounds."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            samples[name].append(median_time(step, repeats=repeats, warmup=1, inner=inner))
    return {name: statistics.median(times) for name, times in samples.items()}


def try_import_torch():
    """PyTorch if installed (``pip install torch==2.13.0``), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def format_seconds(t: float) -> str:
    return f"{t * 1e6:9.1f} us" if t < 1e-3 else f"{t * 1e3:9.2f} ms"


def print_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    """One row per benchmark, one column per implementation, then chainrule's ratio to each."""
    names = list(rows[0][1])
    others = [n for n in names if n != "chainrule"]
    print(f"\n{title}")
    print(
        f"{'benchmark':40s}"
        + "".join(f"{n:>13s}" for n in names)
        + "".join(f"{'chainrule/' + n:>18s}" for n in others)
    )
    for label, times in rows:
        print(
            f"{label:40s}"
            + "".join(
                f"{format_seconds(times[n]):>13s}" if n in times else f"{'-':>13s}" for n in names
            )
            + "".join(
                f"{times['chainrule'] / times[n]:>17.2f}x" if n in times else f"{'-':>18s}"
                for n in others
            )
        )
