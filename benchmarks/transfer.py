"""The lectures' claims about reuse, pre-training and distillation, measured on MNIST.

    python benchmarks/transfer.py                 # the full runs (3 seeds), then the README table
    python benchmarks/transfer.py --size tiny --out /tmp/t.json   # a smoke test (what CI runs)
    python benchmarks/transfer.py --table         # only rewrite the README table from the JSON

1. Fewer data: a small CNN pre-trained on digits 0-4 (all their labels), then digits 5-9
   learned from 10, 100 or 1,000 labelled images per class: (a) from scratch, (b) every
   layer but the output reused and frozen under a new head, (c) those, then fine-tuned
   (all layers, lr / 10), (d) only the convolutions reused and frozen, new dense layers,
   (e) every layer but the output reused and all trained as (a) is. Accuracy on the 5-9
   test images and the training time.
2. Faster training: with 1,000 labels per class, test accuracy after every epoch for a
   fresh network and for the pre-trained one (new head, all layers trained alike), until
   a fixed accuracy: epochs and seconds to reach it.
3. Pre-training without labels: a shallow autoencoder (and a denoising one) trained on
   the 60,000 training images without their labels; its encoder initialises a classifier
   trained with 100 labels per class on all ten digits, against a random initialisation.
4. Distillation (Hinton et al. 2015): a teacher (an ensemble of three of those CNNs,
   trained on all ten digits), a small MLP student trained on its soft targets over a
   transfer set of 10,000 training images, and the same student trained on those
   images' labels alone: test accuracy and inference images per second.

Every figure is the mean and standard deviation over the seeds (the teacher is trained
once). Times are wall-clock seconds on this machine, one BLAS thread
(OPENBLAS_NUM_THREADS=1 is set here), and include nothing but the training steps.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import chainrule as cr
from _readme import replace_between
from chainrule import nn, optim
from chainrule.data import load_mnist
from chainrule.experiments.report import machine
from chainrule.train import Distiller, fit, predict
from chainrule.train.serialization import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "transfer.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- transfer:begin -->", "<!-- transfer:end -->"

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "seeds": 3,
        "train_images": None,  # all 60,000
        "test_images": None,  # all 10,000
        "pretrain_epochs": 3,
        "labels_per_class": (10, 100, 1000),
        "epochs": {10: 60, 100: 20, 1000: 5},  # ~120, ~320 and ~785 steps of 32
        "target_accuracy": 0.98,
        "max_epochs": 8,
        "autoencoder_epochs": 5,
        "autoencoder_labels": 100,
        "classifier_epochs": 30,
        "teacher_members": 3,
        "teacher_epochs": 3,
        "student_images": 10000,
        "student_epochs": 10,
    },
    "tiny": {
        "seeds": 1,
        "train_images": 2000,
        "test_images": 500,
        "pretrain_epochs": 1,
        "labels_per_class": (5, 20),
        "epochs": {5: 2, 20: 1},
        "target_accuracy": 0.5,
        "max_epochs": 2,
        "autoencoder_epochs": 1,
        "autoencoder_labels": 5,
        "classifier_epochs": 1,
        "teacher_members": 2,
        "teacher_epochs": 1,
        "student_images": 1000,
        "student_epochs": 1,
    },
}
LR = 1e-3
BATCH = 32


# ------------------------------------------------------------------ models
def small_cnn(classes: int) -> nn.Sequential:
    """conv 8 5x5, pool, conv 16 5x5, pool, dense 64, head: (N, 1, 28, 28) -> (N, classes)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 64),
        nn.ReLU(),
        nn.Linear(64, classes),
    )


def student_mlp() -> nn.Sequential:
    """784-32-10: the fast model at runtime."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def encoder() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU())


# ------------------------------------------------------------------ helpers
def train(
    model: nn.Module,
    data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    lr: float = LR,
    loss: Any = "cross_entropy",
) -> float:
    """Train with Adam (frozen parameters are skipped); returns the seconds it took."""
    start = time.perf_counter()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    fit(model, data, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=BATCH, verbose=0)
    return time.perf_counter() - start


def accuracy(model: nn.Module, data: tuple[np.ndarray, np.ndarray]) -> float:
    return float((predict(model, data[0]).argmax(axis=1) == data[1]).mean())


def copy_of(model: nn.Sequential) -> nn.Sequential:
    return copy.deepcopy(model)


def per_class(
    x: np.ndarray, y: np.ndarray, count: int, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random images of each class present in ``y``."""
    picks = [generator.permutation(np.flatnonzero(y == c))[:count] for c in np.unique(y)]
    index = np.sort(np.concatenate(picks))
    return x[index], y[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "runs": values,
    }


def images_per_second(models: list[nn.Module], x: np.ndarray, repeats: int = 3) -> float:
    """Inference speed (batches of 256, eval mode), the best of ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for model in models:
            predict(model, x)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def load(size: dict[str, Any], path: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    (x, y), (xt, yt) = load_mnist(path=path)
    if size["train_images"]:
        x, y = x[: size["train_images"]], y[: size["train_images"]]
    if size["test_images"]:
        xt, yt = xt[: size["test_images"]], yt[: size["test_images"]]

    def scaled(images: np.ndarray) -> np.ndarray:
        return (images[:, None] / np.float32(255)).astype(np.float32)

    return {"train": (scaled(x), y.astype(np.int64)), "test": (scaled(xt), yt.astype(np.int64))}


def digits(data: tuple[np.ndarray, np.ndarray], low: int) -> tuple[np.ndarray, np.ndarray]:
    """The images of digits low .. low + 4, labelled 0 .. 4."""
    keep = (data[1] >= low) & (data[1] < low + 5)
    return data[0][keep], data[1][keep] - low


# ------------------------------------------------------------------ the claims
def fewer_data(size: dict[str, Any], mnist: dict[str, Any], seed: int) -> dict[str, Any]:
    """Claims 1 and 2 for one seed."""
    first, second = digits(mnist["train"], 0), digits(mnist["train"], 5)
    first_test, second_test = digits(mnist["test"], 0), digits(mnist["test"], 5)
    cr.manual_seed(seed)
    pretrained = small_cnn(5)
    pretrain_time = train(pretrained, first, size["pretrain_epochs"])
    out: dict[str, Any] = {
        "pretrain_time_s": pretrain_time,
        "pretrain_accuracy_0_4": accuracy(pretrained, first_test),
        "labels": {},
    }
    generator = np.random.default_rng(seed)
    for count in size["labels_per_class"]:
        subset = per_class(*second, count, generator)
        epochs = size["epochs"][count]
        cr.manual_seed(seed + 1)
        scratch = small_cnn(5)
        scratch_time = train(scratch, subset, epochs)
        cr.manual_seed(seed + 1)
        reused = copy_of(pretrained)
        reused.replace_head(5)
        reused[:-1].freeze()
        frozen_time = train(reused, subset, epochs)
        frozen_accuracy = accuracy(reused, second_test)
        reused.unfreeze()
        tune_time = train(reused, subset, epochs, lr=LR / 10)
        cr.manual_seed(seed + 1)
        convs = copy_of(pretrained)  # the convolutions frozen, the dense layers new
        convs[7] = nn.Linear(256, 64)
        convs.replace_head(5)
        convs[:7].freeze()
        convs_time = train(convs, subset, epochs)
        cr.manual_seed(seed + 1)
        whole = copy_of(pretrained)  # every layer trained as from scratch, from the reused start
        whole.replace_head(5)
        whole_time = train(whole, subset, epochs)
        out["labels"][count] = {
            "images": len(subset[0]),
            "epochs": epochs,
            "scratch": {"accuracy": accuracy(scratch, second_test), "time_s": scratch_time},
            "frozen": {"accuracy": frozen_accuracy, "time_s": frozen_time},
            "fine_tuned": {
                "accuracy": accuracy(reused, second_test),
                "time_s": frozen_time + tune_time,
            },
            "frozen_convs": {"accuracy": accuracy(convs, second_test), "time_s": convs_time},
            "reused_all_trained": {"accuracy": accuracy(whole, second_test), "time_s": whole_time},
        }
    # claim 2: epochs (and seconds) to a fixed accuracy, with and without reuse
    subset = per_class(*second, max(size["labels_per_class"]), generator)
    curves = {}
    for name in ("scratch", "reused"):
        cr.manual_seed(seed + 2)
        if name == "scratch":
            model = small_cnn(5)
        else:
            model = copy_of(pretrained)
            model.replace_head(5)
        optimizer = optim.Adam(model.parameters(), lr=LR)
        seconds, accuracies, times = 0.0, [], []
        for _ in range(size["max_epochs"]):
            start = time.perf_counter()
            fit(model, subset, loss="cross_entropy", optimizer=optimizer, epochs=1, verbose=0)
            seconds += time.perf_counter() - start
            accuracies.append(accuracy(model, second_test))
            times.append(seconds)
        curves[name] = {"accuracy": accuracies, "time_s": times}
    out["curves"] = curves
    return out


def pretraining(size: dict[str, Any], mnist: dict[str, Any], seed: int) -> dict[str, Any]:
    """Claim 3 for one seed: autoencoder, denoising autoencoder, random initialisation."""
    x, y = mnist["train"]
    labelled = per_class(x, y, size["autoencoder_labels"], np.random.default_rng(seed))
    epochs = size["classifier_epochs"]
    out: dict[str, Any] = {}
    for name, noise in (("autoencoder", 0.0), ("denoising", 0.3)):
        cr.manual_seed(seed)
        ae = nn.Autoencoder(
            encoder(), nn.Sequential(nn.Linear(128, 784), nn.Sigmoid()), noise, "mask"
        )
        ae_time = train(
            ae, (x, x.reshape(len(x), -1)), size["autoencoder_epochs"], loss=nn.reconstruction_loss
        )
        ae.eval()
        test_x = mnist["test"][0]
        reconstruction = float(nn.reconstruction_loss(ae(test_x[:1000]), test_x[:1000]).item())
        cr.manual_seed(seed + 1)
        classifier = nn.Sequential(*copy_of(ae.encoder), nn.Linear(128, 10))
        time_s = train(classifier, labelled, epochs)
        out[name] = {
            "accuracy": accuracy(classifier, mnist["test"]),
            "time_s": time_s,
            "pretrain_time_s": ae_time,
            "test_reconstruction_mse": reconstruction,
        }
        if name == "autoencoder":
            cr.manual_seed(seed + 1)
            frozen = nn.Sequential(*copy_of(ae.encoder), nn.Linear(128, 10))
            frozen[:-1].freeze()
            time_s = train(frozen, labelled, epochs)
            out["autoencoder_frozen"] = {
                "accuracy": accuracy(frozen, mnist["test"]),
                "time_s": time_s,
            }
    cr.manual_seed(seed + 1)
    random_init = nn.Sequential(*encoder(), nn.Linear(128, 10))
    time_s = train(random_init, labelled, epochs)
    out["random"] = {"accuracy": accuracy(random_init, mnist["test"]), "time_s": time_s}
    out["labelled_images"] = len(labelled[0])
    return out


def train_teacher(size: dict[str, Any], mnist: dict[str, Any]) -> dict[str, Any]:
    members, times = [], []
    for i in range(size["teacher_members"]):
        cr.manual_seed(100 + i)
        member = small_cnn(10)
        times.append(train(member, mnist["train"], size["teacher_epochs"]))
        members.append(member)
    probabilities = np.mean([_softmax(predict(m, mnist["test"][0])) for m in members], axis=0)
    return {
        "members": members,
        "accuracy": float((probabilities.argmax(axis=1) == mnist["test"][1]).mean()),
        "member_accuracy": [accuracy(m, mnist["test"]) for m in members],
        "time_s": sum(times),
        "images_per_s": images_per_second(members, mnist["test"][0]),
    }


def distillation(
    size: dict[str, Any], mnist: dict[str, Any], teacher: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Claim 4 for one seed: the same student from soft targets and from labels alone."""
    out = {}
    x, y = mnist["train"]
    chosen = np.random.default_rng(seed).permutation(len(x))[: size["student_images"]]
    transfer_set = (x[chosen], y[chosen])
    for name in ("soft_targets", "labels"):
        cr.manual_seed(seed)
        student = student_mlp()
        if name == "labels":
            time_s = train(student, transfer_set, size["student_epochs"])
        else:
            distiller = Distiller(student, teacher["members"], temperature=4.0, alpha=0.9)
            time_s = train(distiller, transfer_set, size["student_epochs"], loss=distiller.loss)
        out[name] = {
            "accuracy": accuracy(student, mnist["test"]),
            "time_s": time_s,
            "images_per_s": images_per_second([student], mnist["test"][0]),
        }
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ the run
METHODS = ("scratch", "frozen", "fine_tuned", "frozen_convs", "reused_all_trained")
PARTS = ("fewer_data", "pretraining", "distillation")


def run(
    size_name: str,
    data_path: str | None,
    log: Callable[[str], None],
    parts: tuple[str, ...] = PARTS,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure ``parts``; the other sections are kept from ``previous`` (an earlier run's
    results), and ``section_time_s`` / ``section_machine`` say when each was measured."""
    size = SIZES[size_name]
    mnist = load(size, data_path)
    seeds = list(range(size["seeds"]))
    results: dict[str, Any] = dict(previous or {})
    results.update(
        {
            "size": size_name,
            "settings": {k: v for k, v in size.items() if k != "epochs"}
            | {"epochs": {str(k): v for k, v in size["epochs"].items()}, "lr": LR, "batch": BATCH},
            "seeds": seeds,
            "test_images": len(mnist["test"][0]),
            "note": "taken on a shared, loaded machine (2 cores, several jobs): times are rough",
        }
    )
    results.setdefault("section_time_s", {})
    results.setdefault("section_machine", {})
    for part in parts:
        log(part.replace("_", " "))
        started = time.perf_counter()
        if part == "fewer_data":
            results.update(_fewer_data_results(size, mnist, seeds))
        elif part == "pretraining":
            results["pretraining"] = _pretraining_results(size, mnist, seeds)
        else:
            results["distillation"] = _distillation_results(size, mnist, seeds)
        results["section_time_s"][part] = time.perf_counter() - started
        results["section_machine"][part] = machine()
    return results


def _fewer_data_results(
    size: dict[str, Any], mnist: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    reuse = [fewer_data(size, mnist, s) for s in seeds]
    target = size["target_accuracy"]

    def reach(curve: dict[str, list[float]]) -> tuple[int | None, float | None]:
        hit = next((i for i, a in enumerate(curve["accuracy"]) if a >= target), None)
        return (None, None) if hit is None else (hit + 1, curve["time_s"][hit])

    return {
        "fewer_data": {
            "pretrain_accuracy_0_4": summary([r["pretrain_accuracy_0_4"] for r in reuse]),
            "pretrain_time_s": summary([r["pretrain_time_s"] for r in reuse]),
            "labels_per_class": {
                str(count): {
                    "images": reuse[0]["labels"][count]["images"],
                    "epochs": reuse[0]["labels"][count]["epochs"],
                    **{
                        method: {
                            key: summary([r["labels"][count][method][key] for r in reuse])
                            for key in ("accuracy", "time_s")
                        }
                        for method in METHODS
                    },
                }
                for count in size["labels_per_class"]
            },
        },
        "faster_training": {
            "target_accuracy": target,
            "labels_per_class": max(size["labels_per_class"]),
            **{
                name: {
                    "epochs_to_target": [reach(r["curves"][name])[0] for r in reuse],
                    "seconds_to_target": [reach(r["curves"][name])[1] for r in reuse],
                    "curves": [r["curves"][name] for r in reuse],
                }
                for name in ("scratch", "reused")
            },
        },
    }


def _pretraining_results(
    size: dict[str, Any], mnist: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    pre = [pretraining(size, mnist, s) for s in seeds]
    return {
        "labelled_images": pre[0]["labelled_images"],
        **{
            name: {key: summary([r[name][key] for r in pre]) for key in pre[0][name]}
            for name in ("random", "autoencoder", "autoencoder_frozen", "denoising")
        },
    }


def _distillation_results(
    size: dict[str, Any], mnist: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    teacher = train_teacher(size, mnist)
    distilled = [distillation(size, mnist, teacher, s) for s in seeds]
    return {
        "teacher": {
            "members": size["teacher_members"],
            "accuracy": teacher["accuracy"],
            "member_accuracy": teacher["member_accuracy"],
            "time_s": teacher["time_s"],
            "images_per_s": teacher["images_per_s"],
        },
        **{
            name: {key: summary([r[name][key] for r in distilled]) for key in distilled[0][name]}
            for name in ("soft_targets", "labels")
        },
        "temperature": 4.0,
        "alpha": 0.9,
    }


# ------------------------------------------------------------------ the README table
def _pct(s: dict[str, float]) -> str:
    return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"


def _sec(s: dict[str, float]) -> str:
    return f"{s['mean']:.1f}"


def table(results: dict[str, Any]) -> str:
    """The README section's body, written from the results alone."""
    fewer = results["fewer_data"]
    n = len(results["seeds"])
    lines = [
        f"Generated by `python benchmarks/transfer.py` from `benchmarks/results/transfer.json` "
        f"({n} seeds, mean ± std; times in seconds, one BLAS thread, on a shared machine).",
        "",
        f"**Fewer data.** A small CNN pre-trained on digits 0-4 "
        f"({_pct(fewer['pretrain_accuracy_0_4'])}% on their test images, "
        f"{_sec(fewer['pretrain_time_s'])} s), then digits 5-9; accuracy on the 5-9 test images:",
        "",
        "| labels per class | epochs | scratch | frozen + new head | frozen, then fine-tuned "
        "(lr / 10) | convolutions frozen, new dense layers | reused, every layer trained |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, row in fewer["labels_per_class"].items():
        cells = " | ".join(_pct(row[m]["accuracy"]) for m in METHODS if m in row)
        lines.append(f"| {count} | {row['epochs']} | {cells} |")
    lines += [
        "",
        "Training time in seconds (same columns; the fine-tuned column includes its frozen phase):",
        "",
        "| labels per class | " + " | ".join(METHODS) + " |",
        "|---:|" + "---:|" * len(METHODS),
    ]
    for count, row in fewer["labels_per_class"].items():
        cells = " | ".join(_sec(row[m]["time_s"]) for m in METHODS if m in row)
        lines.append(f"| {count} | {cells} |")
    faster = results["faster_training"]

    def reached(values: list[Any], fmt: str) -> str:
        return ", ".join("not reached" if v is None else format(v, fmt) for v in values)

    lines += [
        "",
        f"**Faster training.** {faster['labels_per_class']} labels per class, all layers "
        f"trained alike; per seed, the epochs and seconds until the 5-9 test accuracy first "
        f"reaches {100 * faster['target_accuracy']:.0f}% (at most "
        f"{results['settings']['max_epochs']} epochs):",
        "",
        "| start | epochs to target | seconds to target | accuracy after epoch 1 |",
        "|---|---|---|---:|",
    ]
    for name, label in (("scratch", "random"), ("reused", "pre-trained on 0-4")):
        first = summary([c["accuracy"][0] for c in faster[name]["curves"]])
        lines.append(
            f"| {label} | {reached(faster[name]['epochs_to_target'], 'd')} | "
            f"{reached(faster[name]['seconds_to_target'], '.1f')} | {_pct(first)} |"
        )
    pre = results["pretraining"]
    lines += [
        "",
        f"**Pre-training without labels.** A 784-128 encoder, then a 10-way head trained on "
        f"{pre['labelled_images']} labelled images (all ten digits); accuracy on the "
        f"{results['test_images']:,} test images:",
        "",
        "| encoder initialised by | test accuracy | reconstruction MSE | pre-training s |",
        "|---|---:|---:|---:|",
        f"| random | {_pct(pre['random']['accuracy'])} | | |",
    ]
    for name, label in (
        ("autoencoder", "autoencoder, fine-tuned"),
        ("autoencoder_frozen", "autoencoder, frozen"),
        ("denoising", "denoising autoencoder (30% masked), fine-tuned"),
    ):
        row = pre[name]
        mse = (
            f"{row['test_reconstruction_mse']['mean']:.4f}" if name != "autoencoder_frozen" else ""
        )
        seconds = _sec(row["pretrain_time_s"]) if name != "autoencoder_frozen" else ""
        lines.append(f"| {label} | {_pct(row['accuracy'])} | {mse} | {seconds} |")
    distilled = results["distillation"]
    teacher = distilled["teacher"]
    lines += [
        "",
        f"**Distillation.** Teacher: {teacher['members']} CNNs, probabilities averaged; "
        f"student: a 784-32-10 MLP trained on {results['settings']['student_images']:,} "
        f"training images; T = {distilled['temperature']:g}, alpha = "
        f"{distilled['alpha']:g}; images per second at inference (batches of 256):",
        "",
        "| model | test accuracy | images/s |",
        "|---|---:|---:|",
        f"| teacher ({teacher['members']} CNNs, trained once) | {100 * teacher['accuracy']:.2f} | {teacher['images_per_s']:,.0f} |",
    ]
    for name, label in (
        ("soft_targets", "student, soft targets"),
        ("labels", "student, labels only"),
    ):
        row = distilled[name]
        lines.append(
            f"| {label} | {100 * row['accuracy']['mean']:.2f} ± {100 * row['accuracy']['std']:.2f} "
            f"| {row['images_per_s']['mean']:,.0f} |"
        )
    return "\n".join([*lines, "", *verdicts(results)])


def _points(a: dict[str, float], b: dict[str, float]) -> str:
    """a - b in percentage points, signed."""
    return f"{100 * (a['mean'] - b['mean']):+.1f} points"


def _verdict(a: dict[str, float], b: dict[str, float]) -> str:
    """'holds' if a beats b by more than a standard deviation, 'does not hold' if it trails
    by more, else 'no clear difference'."""
    gain, spread = a["mean"] - b["mean"], max(a["std"], b["std"])
    if abs(gain) <= spread:
        return "within one standard deviation: no clear difference"
    return "holds" if gain > 0 else "does not hold"


def verdicts(results: dict[str, Any]) -> list[str]:
    """Whether each claim holds on this data, in words computed from the results."""
    out = ["**Do the claims hold here?**", ""]
    names = {
        "frozen": "frozen + new head",
        "fine_tuned": "frozen, then fine-tuned",
        "frozen_convs": "frozen convolutions, new dense layers",
        "reused_all_trained": "reused, every layer trained",
    }
    for count, row in results["fewer_data"]["labels_per_class"].items():
        reused = [m for m in names if m in row]
        best = max(reused, key=lambda m: row[m]["accuracy"]["mean"])
        literal = row["frozen"]["accuracy"]
        out.append(
            f"- Fewer data, {count} labels per class: the best of the four reuse variants "
            f"({names[best]}; picked on the test set, so an optimistic figure) is "
            f"{_points(row[best]['accuracy'], row['scratch']['accuracy'])} against training "
            f"from scratch ({_verdict(row[best]['accuracy'], row['scratch']['accuracy'])}); "
            "the lectures' recipe "
            f"taken literally (every layer but the output frozen) is "
            f"{_points(literal, row['scratch']['accuracy'])}."
        )
    faster = results["faster_training"]

    def mean_epochs(name: str) -> str:
        hits = [e for e in faster[name]["epochs_to_target"] if e is not None]
        missed = len(faster[name]["epochs_to_target"]) - len(hits)
        text = f"{statistics.fmean(hits):.1f}" if hits else "none"
        return text + (f" ({missed} seed(s) never reached it)" if missed else "")

    out.append(
        f"- Faster training: epochs to {100 * faster['target_accuracy']:.0f}%, mean over the "
        f"seeds that reached it: {mean_epochs('reused')} with reuse, "
        f"{mean_epochs('scratch')} from scratch."
    )
    pre = results["pretraining"]
    best = max(("autoencoder", "denoising"), key=lambda m: pre[m]["accuracy"]["mean"])
    out.append(
        f"- Pre-training without labels: the better autoencoder initialisation ({best}) is "
        f"{_points(pre[best]['accuracy'], pre['random']['accuracy'])} against a random one "
        f"({_verdict(pre[best]['accuracy'], pre['random']['accuracy'])}, with this shallow "
        "encoder and these settings)."
    )
    distilled = results["distillation"]
    soft, hard = distilled["soft_targets"]["accuracy"], distilled["labels"]["accuracy"]
    speed = distilled["soft_targets"]["images_per_s"]["mean"] / distilled["teacher"]["images_per_s"]
    out.append(
        f"- Distillation: soft targets give the student {_points(soft, hard)} over labels "
        f"alone ({_verdict(soft, hard)}); the student classifies {speed:,.0f}x as many images per second as the teacher."
    )
    return out


def write_readme(results: dict[str, Any]) -> None:
    replace_between(README, BEGIN, END, table(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    parser.add_argument("--data", help="MNIST's folder (default: CHAINRULE_DATA or the cache)")
    parser.add_argument("--table", action="store_true", help="only rewrite the README table")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="measure only these (the others are kept from --out)",
    )
    args = parser.parse_args(argv)
    if args.table:
        write_readme(json.loads(args.out.read_text()))
        return 0
    previous = None
    if set(args.parts) != set(PARTS):
        if not args.out.is_file():
            sys.exit(f"--parts needs the other parts' results in {args.out}; run them all first")
        previous = json.loads(args.out.read_text())
        if previous.get("size") != args.size:
            sys.exit(f"{args.out} holds the {previous.get('size')!r} size, not {args.size!r}")
    log = lambda m: print(m, flush=True)  # noqa: E731
    results = run(args.size, args.data, log, tuple(args.parts), previous)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    print(table(results))
    if args.size == "full" and args.out == RESULTS:
        write_readme(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
