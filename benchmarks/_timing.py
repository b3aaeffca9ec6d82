"""Shared helpers for the benchmarks: warm up, repeat, take the median, print ratios."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
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


# ----------------------------------------------------------------------------------------
# Fair races: each library in its own process.
#
# Two libraries timed in one process keep their thread pools (OpenBLAS's, PyTorch's
# OpenMP) spinning after their own calls and steal cores from each other, so every
# side-by-side figure runs each library in a fresh child process, the libraries taking
# turns, and reports the median and range over rounds.


def summary(samples: list[float]) -> dict[str, object]:
    """{"median", "min", "max", "samples"} of one measurement over rounds."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": samples,
    }


def child_env(threads: int) -> dict[str, str]:
    """The environment of a benchmark child: ``threads`` threads for BLAS and OpenMP."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def alternate_processes(
    script: str,
    libraries: list[str],
    cases: list[str],
    rounds: int,
    threads: int,
    extra: list[str] | None = None,
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Run ``script --child LIBRARY CASE [extra]`` once per library, case and round.

    Each run is a fresh process whose last line of output is a JSON dict of measurements.
    Within a round the libraries take turns, and the order flips every round so neither
    always runs first. Returns samples[case][library][measurement] = one value per round.
    """
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        case: {lib: {} for lib in libraries} for case in cases
    }
    for r in range(rounds):
        order = libraries if r % 2 == 0 else libraries[::-1]
        for case in cases:
            for lib in order:
                out = subprocess.run(
                    [sys.executable, script, "--child", lib, case, *(extra or [])],
                    capture_output=True,
                    text=True,
                    env=child_env(threads),
                )
                if out.returncode != 0:
                    raise SystemExit(f"{lib} {case} failed:\n{out.stderr[-3000:]}")
                measured = json.loads(out.stdout.strip().splitlines()[-1])
                for key, value in measured.items():
                    samples[case][lib].setdefault(key, []).append(value)
                print(
                    f"  round {r + 1}/{rounds} {case:14s} {lib:9s} "
                    + "  ".join(f"{k}={v:.4g}" for k, v in measured.items()),
                    flush=True,
                )
    return samples


def set_torch_threads(torch, threads: int) -> None:
    """PyTorch on exactly ``threads`` threads (intra-op), like OpenBLAS in the other child."""
    torch.set_num_threads(threads)


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    import platform

    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
    }


def write_json(path: str, data: object) -> None:
    """Write ``data`` as JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
