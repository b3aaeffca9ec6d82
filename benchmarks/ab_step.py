"""Has a change moved the step time? The race's chainrule steps, timed for two checkouts in
alternating processes (2 threads), so the two builds never share a machine state.

    python benchmarks/ab_step.py /path/to/old/src /path/to/new/src --rounds 3

Each child imports chainrule from the given ``src`` directory (``PYTHONPATH``), builds the
race's model (``race.steps``), warms up, then times single steps; it prints the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = {"keras-mlp": 200, "keras-cnn": 15, "nielsen-mb10": 400}


def child(name: str, steps: int) -> None:
    sys.path.insert(0, str(HERE))
    import race
    from _timing import median_time

    _, _, _, timed, _ = race.steps(None, name)
    print(json.dumps({"median_ms": median_time(timed["chainrule"], repeats=steps, warmup=3) * 1e3}))


def run(src: str, name: str, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": str(threads)}
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, "--child", name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["median_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?")
    parser.add_argument("new", nargs="?")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, STEPS[args.child])
        return
    if not (args.old and args.new):
        parser.error("give the old and the new src directories")
    results = {name: {"old": [], "new": []} for name in args.models}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for name in args.models:
            for which in order:
                src = args.old if which == "old" else args.new
                results[name][which].append(run(src, name, args.threads))
    for name, r in results.items():
        old, new = statistics.median(r["old"]), statistics.median(r["new"])
        runs = lambda xs: " / ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        print(f"{name:13s} old {runs(r['old'])} ms   new {runs(r['new'])} ms   "
              f"new/old {new / old:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
