"""Reproduce the lectures' MNIST table with chainrule and write it into the README.

    python benchmarks/reproduce.py                       # every row, the lectures' settings
    python benchmarks/reproduce.py keras-mlp keras-cnn   # some rows
    python benchmarks/reproduce.py nielsen-ensemble --epochs 10   # fewer epochs (said so in the table)
    python benchmarks/reproduce.py keras-mlp --seeds 3   # seeds seed .. seed + 2: mean +- std
    python benchmarks/reproduce.py --table               # only rewrite the README table

An ensemble's members can train side by side, one process each (a core or a machine
apiece), then one last call tests the ensemble:

    python benchmarks/reproduce.py modern-ensemble --member 0 &   # ... and 1, 2, 3, 4
    python benchmarks/reproduce.py modern-ensemble                # after they have finished

A finished single row whose config is the member's (the ensemble's without [ensemble], seed
seed + I) can stand for member I instead of training it again (weight for weight the same):

    python benchmarks/reproduce.py nielsen-ensemble --member 0 --adopt nielsen-dropout

Each experiment runs as ``chainrule train`` would, into runs/reproduce/<name>; a run that
was interrupted is resumed from its checkpoints. Results accumulate in
benchmarks/results/reproduce.json, from which the README table is written (between the
``reproduce:begin`` / ``reproduce:end`` markers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

from _readme import replace_between
from chainrule.experiments import adopt_member, load_config, run_experiment
from chainrule.experiments.report import machine
from chainrule.train.serialization import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reproduce.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- reproduce:begin -->", "<!-- reproduce:end -->"

ROWS = [
    ("keras-mlp", "Keras MLP 784-512-512-10, ReLU, dropout 0.2, Adam, batch 128"),
    ("keras-cnn", "Keras CNN conv32-conv64-pool, dropout, dense 128, Adadelta, batch 128"),
    ("nielsen-fc", "Nielsen: 784-100-10 sigmoid, SGD eta 0.1, mini-batch 10"),
    ("nielsen-conv1", "Nielsen: + conv 20x5x5, max-pool 2x2"),
    ("nielsen-conv2", "Nielsen: + second conv-pool (40 maps)"),
    ("nielsen-relu", "Nielsen: ReLU, eta 0.03, L2 lambda 0.1"),
    ("nielsen-expanded", "Nielsen: data expanded by one-pixel shifts"),
    ("nielsen-dropout", "Nielsen: 2 x 1000 dense, dropout 0.5, 40 epochs"),
    ("nielsen-ensemble", "Nielsen: ensemble of five"),
    ("srivastava-dropout", "Srivastava et al.: ReLU 3 x 1024, dropout, max-norm"),
    ("modern-cnn", "chainrule: BN CNN, He init, augmentation, AdamW, cosine"),
    ("modern-ensemble", "chainrule: ensemble of five modern-cnn"),
]


# The note column: why a row differs from the lecture, or how it was run (written after the run).
EXPLAINED: dict[str, str] = {
    "keras-mlp": "the lecture's figure is 1.3 standard deviations above our mean: it was one "
    "run of the Keras example, with RMSprop where the course's recipe has Adam; "
    "run on cf359af (dropout masks from float32 uniforms, before the raw-bit masks)",
    "keras-cnn": "0.09 short on the mean, within one standard deviation; the lecture's figure "
    "is one run of the Keras example; run on cf359af (dropout masks from float32 uniforms)",
    "nielsen-expanded": "an epoch here is 250,000 images; run as 5 epochs (12.1 min), then "
    "resumed to 10",
    "nielsen-dropout": "on the expanded data, the lecture's 40 epochs; one seed against the "
    "lecture's one run, short by about the seed-to-seed spread of the three-seed rows above; "
    "epochs 1-17 ran on 3f53b12, 18-40 on d7fb036, in legs resumed from checkpoints",
    "nielsen-ensemble": "five nielsen-dropout members (seeds 0-4), each the lecture's 40 "
    "epochs on the expanded data; member 0 is the nielsen-dropout run above (same config and "
    "seed); members 1-4 trained side by side, in legs resumed from checkpoints",
    "srivastava-dropout": "our 50 epochs are 30,000 updates where the paper made a million "
    "(about 1,700 epochs)",
    "modern-ensemble": "member 0 is the modern-cnn run above (same config and seed); the members "
    "trained side by side, two at a time (`--member`)",
}
# Why a row has not been run on the development machine (and what it would take).
NOT_RUN: dict[str, str] = {}
# Rows whose wall time is not a clean figure, and why (the table shows none).
UNTIMED: dict[str, str] = {
    "nielsen-dropout": "no time: trained in legs over two sessions on one core, sharing the "
    "machine with benchmarks (paused while they ran); the legs before the last predate the "
    "checkpoints' time record",
    "nielsen-ensemble": "no time: members 0 and 1 trained in legs before checkpoints kept the "
    "training time, and members 2-4 shared two cores three ways and with benchmarks",
    "keras-mlp": "no time: the seeds shared the two cores with benchmarks and were paused "
    "while benchmarks ran",
    "keras-cnn": "no time: the seeds shared the two cores with benchmarks and each other, "
    "seed 0 was paused while benchmarks ran, and seed 2's figure is that of a re-test (fixed "
    "since: a finished run resumed keeps the time of the leg that trained it)",
}


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def run(name: str, epochs: int | None, runs: Path, member: int | None = None) -> dict:
    config = load_config(name)
    run_dir = runs / name
    resume = (run_dir / "config.toml").is_file()
    result = run_experiment(config, run_dir, epochs=epochs, resume=resume, verbose=2, member=member)
    metrics = result.metrics
    if member is not None:
        return metrics
    members = config.ensemble.members if config.ensemble else 1
    partial = any(_time_partial(m) for m in metrics["members"])
    return {
        "experiment": name,
        "lecture_accuracy": config.lecture_accuracy,
        "test_accuracy": round(100 * metrics["test"]["accuracy"], 2),
        "vote_accuracy": round(100 * metrics["test"]["vote_accuracy"], 2)
        if "vote_accuracy" in metrics["test"]
        else None,
        "epochs": epochs or config.training.epochs,
        "lecture_epochs": config.training.epochs,
        "epochs_run": metrics["epochs_run"],
        "members": members,
        "member_accuracies": [round(100 * m["test_accuracy"], 2) for m in metrics["members"]],
        # an ensemble: the sum of its members' training times, wherever they trained
        "wall_time_s": round(metrics.get("members_training_time_s", metrics["training_time_s"]), 1),
        "time_partial": partial,
        "machine": machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _time_partial(member: dict) -> bool:
    """Whether a member's training time leaves out earlier legs (its run resumed from
    checkpoints that did not keep the time; results written before: any resume)."""
    return member.get("training_time_partial", member["resumed"])


def run_seeds(name: str, epochs: int | None, runs: Path, seeds: int) -> dict:
    """``seeds`` runs of ``name`` with seeds seed .. seed + seeds - 1, each in
    runs/<name>/seed-<s>; the row holds their mean, standard deviation and each accuracy."""
    base = load_config(name)
    rows = []
    for s in range(base.seed, base.seed + seeds):
        config = dataclasses.replace(base, seed=s)
        run_dir = runs / name / f"seed-{s}"
        resume = (run_dir / "config.toml").is_file()
        print(f"--- seed {s}", flush=True)
        result = run_experiment(config, run_dir, epochs=epochs, resume=resume, verbose=2)
        rows.append(result.metrics)
    accuracies = [100 * m["test"]["accuracy"] for m in rows]
    return {
        "experiment": name,
        "lecture_accuracy": base.lecture_accuracy,
        "test_accuracy": round(statistics.mean(accuracies), 2),
        "test_accuracy_std": round(statistics.stdev(accuracies), 2),
        "seeds": list(range(base.seed, base.seed + seeds)),
        "seed_accuracies": [round(a, 2) for a in accuracies],
        "vote_accuracy": None,
        "epochs": epochs or base.training.epochs,
        "lecture_epochs": base.training.epochs,
        "epochs_run": min(m["epochs_run"] for m in rows),
        "members": 1,
        "member_accuracies": [],
        "wall_time_s": round(statistics.mean(m["training_time_s"] for m in rows), 1),
        "time_partial": any(_time_partial(member) for m in rows for member in m["members"]),
        "machine": machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def table(results: dict) -> str:
    lines = [
        "| experiment | lecture | chainrule | difference | epochs | wall time | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in ROWS:
        r = results.get(name)
        if r is None:
            lines.append(
                f"| {label} (`{name}`) | - | not run | - | - | - | {NOT_RUN.get(name, '')}"
                f"`python benchmarks/reproduce.py {name}` |"
            )
            continue
        lecture = f"{r['lecture_accuracy']:.2f}%" if r["lecture_accuracy"] else "-"
        ours = f"**{r['test_accuracy']:.2f}%**"
        if r.get("seeds"):
            ours = f"**{r['test_accuracy']:.2f} ± {r['test_accuracy_std']:.2f}%**"
        gap = f"{r['test_accuracy'] - r['lecture_accuracy']:+.2f}" if r["lecture_accuracy"] else "-"
        if r.get("vote_accuracy") is not None:
            ours += f" (vote {r['vote_accuracy']:.2f}%)"
        epochs = f"{r['epochs']}" + (f" x {r['members']}" if r["members"] > 1 else "")
        notes = [EXPLAINED[name]] if name in EXPLAINED else []
        if r["epochs"] < r["lecture_epochs"]:
            notes.append(
                f"fewer epochs than the experiment's {r['lecture_epochs']}; full: `chainrule train {name}`"
            )
        if r["epochs_run"] < r["epochs"] * r["members"]:
            notes.append(f"early stopping: {r['epochs_run']} epochs run")
        if r.get("seeds"):
            notes.append(
                f"mean ± std over seeds {r['seeds'][0]}-{r['seeds'][-1]}: "
                + ", ".join(f"{a:.2f}" for a in r["seed_accuracies"])
                + ("" if name in UNTIMED else "; time: per seed")
            )
        if r["members"] > 1:
            notes.append("members " + ", ".join(f"{a:.2f}" for a in r["member_accuracies"]))
            notes.append("time: the members' training times summed")
        if r.get("time_partial", r.get("resumed")):  # rows written before: "resumed"
            notes.append(
                "resumed from checkpoints older than their time record: time is the last leg only"
            )
        minutes = r["wall_time_s"] / 60
        when = f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
        if name in UNTIMED:
            when = "-"
            notes = [n for n in notes if not n.startswith(("resumed", "time:"))] + [UNTIMED[name]]
        lines.append(
            f"| {label} (`{name}`) | {lecture} | {ours} | {gap} | {epochs} | {when} | {'; '.join(notes)} |"
        )
    machines = {_machine(r["machine"]) for r in results.values()}
    lines.append("")
    lines.append(
        "Machine: "
        + "; ".join(sorted(machines))
        + ". Test accuracy on the 10,000 MNIST test images. Wall times are of runs made"
        " with one BLAS thread (OPENBLAS_NUM_THREADS=1), two at a time, one per core."
    )
    return "\n".join(lines)


def _machine(m: dict) -> str:
    return f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy {m['numpy']}"


def write_readme(results: dict) -> None:
    replace_between(README, BEGIN, END, table(results))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiments", nargs="*", help="rows to run (default: all)")
    parser.add_argument(
        "--epochs", type=int, help="fewer epochs than the lecture (said so in the table)"
    )
    parser.add_argument(
        "--runs", default=str(ROOT / "runs" / "reproduce"), help="where the runs go"
    )
    parser.add_argument("--table", action="store_true", help="only rewrite the README table")
    parser.add_argument(
        "--seeds", type=int, metavar="N", help="run each row with N seeds; report mean +- std"
    )
    parser.add_argument(
        "--member", type=int, metavar="I", help="an ensemble: train member I alone (see above)"
    )
    parser.add_argument(
        "--adopt", metavar="ROW", help="with --member I: ROW's finished run stands for member I"
    )
    args = parser.parse_args()
    results = load_results()
    if args.adopt is not None:
        if args.member is None or len(args.experiments) != 1:
            parser.error("--adopt needs one ensemble experiment and --member I")
        name, runs = args.experiments[0], Path(args.runs)
        member = adopt_member(load_config(name), runs / name, args.member, runs / args.adopt)
        print(f"{runs / args.adopt} stands for member {args.member} of {name}: {member}")
        return
    if args.member is not None:
        if len(args.experiments) != 1:
            parser.error("--member needs exactly one experiment")
        metrics = run(args.experiments[0], args.epochs, Path(args.runs), args.member)
        print(json.dumps(metrics), flush=True)
        return
    if not args.table:
        for name in args.experiments or [n for n, _ in ROWS]:
            print(f"=== {name}", flush=True)
            if args.seeds:
                results[name] = run_seeds(name, args.epochs, Path(args.runs), args.seeds)
            else:
                results[name] = run(name, args.epochs, Path(args.runs))
            results = {**load_results(), name: results[name]}  # others may have written meanwhile
            atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
            print(json.dumps(results[name]), flush=True)
    write_readme(results)


if __name__ == "__main__":
    main()
