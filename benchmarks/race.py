"""chainrule against PyTorch on the same CPU, each library in its own process.

    python benchmarks/race.py                 # needs: pip install torch==2.13.0
    python benchmarks/race.py --rounds 5 --json benchmarks/results/race.json
    python benchmarks/race.py --readme benchmarks/results/race.json   # rewrite README table

Identical models (chainrule's initial weights copied into PyTorch), identical batches,
each library's own layers, loss and optimiser. Every (library, model) pair runs in a
fresh child process with the same number of threads (``--threads``, default 2: OpenBLAS
for chainrule, PyTorch's intra-op pool), the libraries taking turns, the order flipping
every round; medians and min-max over >= 3 rounds. (Timing both in one process biases
the result: each library's thread pool keeps spinning after its calls and steals cores
from the other.)

Each child measures, in this order: peak memory (the resident-set rise over a few
training steps above the process's size once the library is loaded, before the model
exists: parameters, optimiser state, the batch and every buffer a step needs), the
median step time after a warm-up, and inference time for 1,000 images (in evaluation mode,
as a prediction is made: dropout off; the model goes back to training mode after). FLOP rate: the
step's multiply-adds x 2 over its time, against the measured float32 GEMM rate.

Rows: the Keras MLP (784-512-512-10, ReLU, dropout 0.2, Adam, batch 128), the Keras CNN
(conv 32 3x3, conv 64 3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5, Adadelta,
batch 128) and Nielsen's two-conv network at mini-batch 10 (conv 20 5x5, pool 2, conv 40
5x5, pool 2, dense 100, ReLU, SGD) where the per-op overhead dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time

import numpy as np

import chainrule as cr
from _models import keras_cnn, keras_mlp
from _readme import replace_between
from _timing import (
    alternate_processes,
    format_seconds,
    machine,
    median_time,
    summary,
    try_import_torch,
    write_json,
)
from chainrule import nn, optim
from chainrule.functional import cross_entropy

MODELS = ("keras-mlp", "keras-cnn", "nielsen-mb10")
# The must-targets of the speed issue: chainrule / PyTorch, medians, separate processes.
STEP_TARGETS = {"keras-mlp": 1.0, "keras-cnn": 1.2, "nielsen-mb10": 0.85}
INFER_TARGET = 0.8
MEMORY_TARGETS = {"keras-mlp": 0.3, "keras-cnn": 1.0}
LABELS = {
    "keras-mlp": "Keras MLP 784-512-512-10, Adam, batch 128",
    "keras-cnn": "Keras CNN conv32-conv64, Adadelta, batch 128",
    "nielsen-mb10": "Nielsen's two-conv net, SGD, mini-batch 10",
}
BEGIN, END = "<!-- race:begin -->", "<!-- race:end -->"


def build(name: str) -> tuple[nn.Sequential, int, tuple[int, ...]]:
    """(model, batch size, input shape) in chainrule, seeded."""
    cr.manual_seed(0)
    if name == "keras-mlp":
        return keras_mlp(nn), 128, (784,)
    if name == "keras-cnn":
        return keras_cnn(nn), 128, (1, 28, 28)
    layers = [
        nn.Conv2d(1, 20, 5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(20, 40, 5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(640, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    ]
    return nn.Sequential(*layers), 10, (1, 28, 28)


def chainrule_optimizer(name: str, model: nn.Module):
    if name == "keras-mlp":
        return optim.Adam(model.parameters(), lr=1e-3)
    if name == "keras-cnn":
        return optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    return optim.SGD(model.parameters(), lr=0.03)


def to_torch(torch, model: nn.Sequential):
    """The same network in PyTorch with chainrule's weights."""
    tnn = torch.nn
    out = []
    for layer in model:
        kind = type(layer).__name__
        if kind == "Linear":
            t = tnn.Linear(layer.in_features, layer.out_features)
        elif kind == "Conv2d":
            t = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size)
        elif kind == "MaxPool2d":
            t = tnn.MaxPool2d(2)
        elif kind == "ReLU":
            t = tnn.ReLU()
        elif kind == "Dropout":
            t = tnn.Dropout(layer.p)
        else:
            t = tnn.Flatten()
        if hasattr(layer, "weight"):
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(layer.weight.numpy()))
                t.bias.copy_(torch.from_numpy(layer.bias.numpy()))
        out.append(t)
    return tnn.Sequential(*out)


def torch_optimizer(torch, name: str, model):
    if name == "keras-mlp":
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if name == "keras-cnn":
        return torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    return torch.optim.SGD(model.parameters(), lr=0.03)


def flops(model: nn.Sequential, batch: int, shape: tuple[int, ...]) -> tuple[float, float]:
    """(training step FLOPs, inference FLOPs per sample): 2 per multiply-add; backward
    costs twice the forward (input and weight gradients), less the first layer's input one."""
    forward, x, first = 0.0, np.zeros((1, *shape), np.float32), True
    training = 0.0
    with cr.no_grad():
        t = cr.tensor(x)
        for layer in model:
            out = layer(t)
            kind = type(layer).__name__
            if kind == "Linear":
                f = 2 * layer.in_features * layer.out_features
            elif kind == "Conv2d":
                f = (
                    2
                    * int(np.prod(out.shape[1:]))
                    * layer.in_channels
                    * layer.kernel_size[0]
                    * layer.kernel_size[1]
                )
            else:
                f = 0
            forward += f
            training += f * (2 if first else 3)
            first = first and f == 0
            t = out
    return training * batch, forward


def gemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * 2048**3 / (time.perf_counter() - start)


def steps(torch, name: str):
    model, batch, shape = build(name)
    rng = np.random.default_rng(1)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    opt = chainrule_optimizer(name, model)
    xt, yt = cr.tensor(x), cr.tensor(y)

    def chainrule_step():
        loss = cross_entropy(model(xt), yt)
        model.zero_grad()
        loss.backward()
        opt.step()

    timed = {"chainrule": chainrule_step}
    inference_x = rng.random((1000, *shape), dtype=np.float32)
    ix = cr.tensor(inference_x)  # made once, as PyTorch's from_numpy view is

    def chainrule_infer():
        model.eval()
        with cr.no_grad():
            model(ix)
        model.train()

    infer = {"chainrule": chainrule_infer}
    if torch:
        tmodel = to_torch(torch, model)
        topt = torch_optimizer(torch, name, tmodel)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        tix = torch.from_numpy(inference_x)

        def torch_step():
            loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        def torch_infer():
            tmodel.eval()
            with torch.no_grad():
                tmodel(tix)
            tmodel.train()

        timed["torch"] = torch_step
        infer["torch"] = torch_infer
    return model, batch, shape, timed, infer


DENSE_LAYERS = {"Linear", "ReLU", "Dropout", "Flatten"}


def inference_gemms(torch, name: str):
    """The GEMMs of a dense model's inference alone (1,000 images, results into reused
    buffers), in NumPy or, with ``torch``, in PyTorch: the floor under each library's
    inference time. None for a model with other layers."""
    model, _, shape = build(name)
    if any(type(layer).__name__ not in DENSE_LAYERS for layer in model):
        return None
    weights = [layer.weight.numpy() for layer in model if type(layer).__name__ == "Linear"]
    x = np.random.default_rng(2).random((1000, int(np.prod(shape))), dtype=np.float32)
    if torch is None:
        buffers = [np.empty((1000, w.shape[0]), np.float32) for w in weights]

        def numpy_gemms():
            h = x
            for w, out in zip(weights, buffers):
                h = np.matmul(h, w.T, out=out)

        return numpy_gemms
    tw = [torch.from_numpy(w) for w in weights]
    tbuffers = [torch.empty(1000, w.shape[0]) for w in tw]
    tx = torch.from_numpy(x)

    def torch_gemms():
        h = tx
        for w, out in zip(tw, tbuffers):
            h = torch.mm(h, w.t(), out=out)

    return torch_gemms


def child(library: str, name: str, threads: int, repeats: int) -> dict[str, float]:
    """One library, one model, in this process: peak memory, step and inference time."""
    torch = try_import_torch() if library == "torch" else None
    if library == "torch":
        if torch is None:
            raise SystemExit("PyTorch is not installed: pip install torch==2.13.0")
        torch.set_num_threads(threads)
        torch.ones(8, 8) @ torch.ones(8, 8)  # load the library's kernels before the baseline
    else:
        np.ones((8, 8), np.float32) @ np.ones((8, 8), np.float32)
        try:  # chainrule's compiled kernels loaded, as PyTorch's are (older versions: none)
            from chainrule.backend.jit import warm_up
        except ImportError:
            pass
        else:
            warm_up()
    before = _rss_mb()  # the library loaded; no model, optimiser or batch yet
    _, _, _, timed, infer = steps(torch, name)
    step, inference = timed[library], infer[library]
    peak = [before]
    done = threading.Event()

    def sample() -> None:  # resident set every millisecond while training runs
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(30 if name != "nielsen-mb10" else 200):
        step()
    done.set()
    sampler.join()
    inner = 20 if name == "nielsen-mb10" else 1
    result = {
        "peak_mb": peak[0] - before,
        "step_s": median_time(step, repeats=repeats, warmup=3, inner=inner),
        "infer_s_per_1000": median_time(inference, repeats=max(3, repeats // 3), warmup=1),
    }
    gemms = inference_gemms(torch, name)
    if gemms is not None:
        result["infer_gemms_s_per_1000"] = median_time(gemms, repeats=repeats, warmup=2)
    return result


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def race(rounds: int, threads: int, repeats: int, models: list[str]) -> dict:
    torch = try_import_torch()
    libraries = ["chainrule", "torch"] if torch else ["chainrule"]
    peak = gemm_rate()
    print(f"float32 GEMM (2048^2, NumPy/OpenBLAS): {peak / 1e9:.1f} GFLOP/s")
    if not torch:
        print("PyTorch not installed: pip install torch==2.13.0 adds the comparison")
    samples = alternate_processes(
        os.path.abspath(__file__),
        libraries,
        models,
        rounds,
        threads,
        ["--threads", str(threads), "--repeats", str(repeats)],
    )
    results: dict = {
        "machine": machine(),
        "torch": torch.__version__ if torch else None,
        "threads": threads,
        "rounds": rounds,
        "gemm_flops": peak,
        "models": {},
    }
    for name in models:
        model, batch, shape = build(name)
        step_flops, infer_flops = flops(model, batch, shape)
        row: dict = {"batch": batch, "step_flops": step_flops, "infer_flops": infer_flops}
        for lib in libraries:
            row[lib] = {key: summary(values) for key, values in samples[name][lib].items()}
        if torch:
            row["ratios"] = {
                key: {
                    "median": row["chainrule"][key]["median"] / row["torch"][key]["median"],
                    # the ratio of each round's pair, to show the spread
                    "rounds": [
                        c / t
                        for c, t in zip(
                            row["chainrule"][key]["samples"], row["torch"][key]["samples"]
                        )
                    ],
                }
                for key in ("step_s", "infer_s_per_1000", "peak_mb")
            }
        results["models"][name] = row
    return results


def gemm_floor(results: dict) -> list[str]:
    """For each dense model: its inference GEMMs alone in each library, against the
    inference target (what 0.8x PyTorch's whole inference leaves for NumPy's GEMMs)."""
    lines = []
    for name, row in results["models"].items():
        key = "infer_gemms_s_per_1000"
        if key not in row.get("chainrule", {}) or key not in row.get("torch", {}):
            continue
        flop = row["infer_flops"] * 1000
        ours, theirs = row["chainrule"][key]["median"], row["torch"][key]["median"]
        budget = INFER_TARGET * row["torch"]["infer_s_per_1000"]["median"]
        lines.append(
            f"{LABELS[name]}: inference is its GEMMs. Alone (1,000 images, into reused "
            f"buffers) they take {format_seconds(ours).strip()} in NumPy's BLAS "
            f"({flop / ours / 1e9:.0f} GFLOP/s) and {format_seconds(theirs).strip()} in "
            f"PyTorch ({flop / theirs / 1e9:.0f} GFLOP/s); {INFER_TARGET}x PyTorch's whole "
            f"inference is {format_seconds(budget).strip()}, "
            f"{100 * budget / ours:.0f}% of the time NumPy's GEMMs alone need "
            f"({100 * budget / theirs:.0f}% of PyTorch's own GEMMs' time)."
        )
    return lines


def report(results: dict) -> None:
    peak = results["gemm_flops"]
    for name, row in results["models"].items():
        print(f"\n{name} (batch {row['batch']})")
        for lib in ("chainrule", "torch"):
            if lib not in row:
                continue
            step = row[lib]["step_s"]["median"]
            print(
                f"  {lib:9s} step {format_seconds(step)} "
                f"[{format_seconds(row[lib]['step_s']['min']).strip()} - "
                f"{format_seconds(row[lib]['step_s']['max']).strip()}]  "
                f"({row['step_flops'] / step / 1e9:5.1f} GFLOP/s, "
                f"{100 * row['step_flops'] / step / peak:4.1f}% of GEMM)  inference "
                f"{1000 / row[lib]['infer_s_per_1000']['median']:8.0f} images/s  "
                f"peak memory +{row[lib]['peak_mb']['median']:.0f} MB"
            )
        if "ratios" in row:
            r = row["ratios"]
            step, infer, mem = (r[k]["median"] for k in ("step_s", "infer_s_per_1000", "peak_mb"))
            target = STEP_TARGETS[name]
            line = (
                f"  chainrule / torch: step {step:.2f}x (target <= {target}x: "
                f"{'met' if step <= target else 'MISSED'}), inference {infer:.2f}x "
                f"(<= {INFER_TARGET}x: {'met' if infer <= INFER_TARGET else 'MISSED'}), "
                f"peak memory {mem:.2f}x"
            )
            if name in MEMORY_TARGETS:
                ok = mem <= MEMORY_TARGETS[name]
                line += f" (<= {MEMORY_TARGETS[name]}x: {'met' if ok else 'MISSED'})"
            print(line)
    for line in gemm_floor(results):
        print(f"\n{line}")


def readme_table(results: dict) -> str:
    """The README's race table, generated from race.py's JSON."""
    peak = results["gemm_flops"]
    m = results["machine"]
    lines = [
        f"Measured on {m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy "
        f"{m['numpy']}, PyTorch {results['torch']}; {results['threads']} threads each; "
        f"median [min - max] of {results['rounds']} rounds, each library in its own "
        f"process; float32 GEMM rate {peak / 1e9:.0f} GFLOP/s.",
        "",
        "| model | chainrule step | PyTorch step | step ratio (target) | inference ratio "
        "(target 0.8x) | peak memory, chainrule / PyTorch | chainrule FLOP rate |",
        "|---|---|---|---|---|---|---|",
    ]

    def span(stat: dict) -> str:
        return (
            f"{format_seconds(stat['median']).strip()} "
            f"[{format_seconds(stat['min']).strip()} - {format_seconds(stat['max']).strip()}]"
        )

    for name, row in results["models"].items():
        c, t, r = row["chainrule"], row["torch"], row["ratios"]
        step = c["step_s"]["median"]
        mem_target = f" (<= {MEMORY_TARGETS[name]}x)" if name in MEMORY_TARGETS else ""
        lines.append(
            f"| {LABELS[name]} | {span(c['step_s'])} | {span(t['step_s'])} | "
            f"**{r['step_s']['median']:.2f}x** (<= {STEP_TARGETS[name]}x) | "
            f"{r['infer_s_per_1000']['median']:.2f}x | "
            f"**{r['peak_mb']['median']:.2f}x**{mem_target} "
            f"({c['peak_mb']['median']:.0f} vs {t['peak_mb']['median']:.0f} MB) | "
            f"{row['step_flops'] / step / 1e9:.0f} GFLOP/s "
            f"({100 * row['step_flops'] / step / peak:.0f}% of GEMM) |"
        )
    for line in gemm_floor(results):
        lines += ["", line]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per child")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--readme", metavar="FILE", help="rewrite README.md's table from FILE")
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, threads=args.threads, repeats=args.repeats)))
        return
    if args.readme:
        with open(args.readme) as f:
            results = json.load(f)
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
        replace_between(readme, BEGIN, END, readme_table(results))
        return
    if args.rounds < 3:
        print(f"note: {args.rounds} round(s); a fair race needs >= 3")
    results = race(args.rounds, args.threads, args.repeats, args.models)
    report(results)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
