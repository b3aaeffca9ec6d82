"""chainrule against PyTorch on the same CPU: training steps, inference, memory, FLOP rate.

    python benchmarks/race.py            # needs: pip install torch==2.13.0
    python benchmarks/race.py --quick    # fewer repetitions

Identical models (chainrule's initial weights copied into PyTorch), identical batches,
each library's own layers, loss and optimiser. Steps are timed after a warm-up, the two
libraries taking turns in rounds, and the median is reported. Peak memory: each library
trains in a fresh subprocess; the figure is the peak resident set while training minus
the process's size once the library is loaded, before the model exists: parameters,
optimiser state, the batch and every buffer a step needs, not the libraries' code. FLOP
rate: the step's multiply-adds x 2 over its time, against a measured float32 GEMM rate.

Rows: the Keras MLP (784-512-512-10, ReLU, dropout 0.2, Adam, batch 128), the Keras CNN
(conv 32 3x3, conv 64 3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5, Adadelta,
batch 128) and Nielsen's two-conv network at mini-batch 10 (conv 20 5x5, pool 2, conv 40
5x5, pool 2, dense 100, ReLU, SGD) where the per-op overhead dominates.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time

import numpy as np

import chainrule as cr
from _models import keras_cnn, keras_mlp
from _timing import format_seconds, interleaved, try_import_torch
from chainrule import nn, optim
from chainrule.functional import cross_entropy

TARGETS = {"keras-mlp": 1.0, "keras-cnn": 1.5, "nielsen-mb10": 1.0}
MEMORY_TARGET = 1.5


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

    def chainrule_infer():
        with cr.no_grad():
            model(cr.tensor(inference_x))

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
            with torch.no_grad():
                tmodel(tix)

        timed["torch"] = torch_step
        infer["torch"] = torch_infer
    return model, batch, shape, timed, infer


def measure_memory(library: str, name: str, n_steps: int) -> float:
    """Run in a subprocess: the peak resident-set rise (MB) over ``n_steps`` training steps."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory", library, name, str(n_steps)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _memory_child(library: str, name: str, n_steps: int) -> None:
    torch = try_import_torch() if library == "torch" else None
    if torch:
        torch.ones(1) @ torch.ones(1)  # load the library's kernels before the baseline
    before = _rss_mb()  # the library loaded; no model, optimiser or batch yet
    _, _, _, timed, _ = steps(torch, name)
    step = timed[library]
    peak = [before]
    done = threading.Event()

    def sample() -> None:  # resident set every millisecond while training runs
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(n_steps):
        step()
    done.set()
    sampler.join()
    print(peak[0] - before)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--memory", nargs=3, metavar=("LIBRARY", "MODEL", "STEPS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.memory:
        _memory_child(args.memory[0], args.memory[1], int(args.memory[2]))
        return
    torch = try_import_torch()
    rounds, repeats = (3, 5) if args.quick else (5, 10)
    peak = gemm_rate()
    print(f"float32 GEMM (2048^2, NumPy/OpenBLAS): {peak / 1e9:.1f} GFLOP/s")
    if torch:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        print("PyTorch not installed: pip install torch==2.13.0 adds the comparison")
    results = {}
    for name in ("keras-mlp", "keras-cnn", "nielsen-mb10"):
        model, batch, shape, timed, infer = steps(torch, name)
        train = interleaved(timed, rounds=rounds, repeats=repeats)
        inference = interleaved(infer, rounds=rounds, repeats=max(2, repeats // 3))
        step_flops, _sample_flops = flops(model, batch, shape)
        n_mem = 30 if name != "nielsen-mb10" else 200
        memory = {lib: measure_memory(lib, name, n_mem) for lib in timed}
        results[name] = {
            "train_s": train,
            "infer_s_per_1000": inference,
            "peak_mb": memory,
            "step_flops": step_flops,
        }
        print(f"\n{name} (batch {batch})")
        for lib in timed:
            print(
                f"  {lib:9s} step {format_seconds(train[lib])}  ({step_flops / train[lib] / 1e9:5.1f} GFLOP/s, "
                f"{100 * step_flops / train[lib] / peak:4.1f}% of GEMM peak)   inference "
                f"{1000 / inference[lib]:9.0f} images/s   peak memory +{memory[lib]:.0f} MB"
            )
        if torch:
            ratio = train["chainrule"] / train["torch"]
            mem_ratio = memory["chainrule"] / max(memory["torch"], 1e-9)
            print(
                f"  chainrule / torch: step {ratio:.2f}x (target <= {TARGETS[name]}x: "
                f"{'met' if ratio <= TARGETS[name] else 'MISSED'}), inference "
                f"{inference['chainrule'] / inference['torch']:.2f}x, peak memory {mem_ratio:.2f}x "
                f"(target <= {MEMORY_TARGET}x: {'met' if mem_ratio <= MEMORY_TARGET else 'MISSED'})"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gemm_flops": peak, **results}, f, indent=2)


if __name__ == "__main__":
    main()
