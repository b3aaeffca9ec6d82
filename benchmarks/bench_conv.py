"""Convolution and pooling, side by side with PyTorch on the CPU, float32: a per-layer
probe behind the race (``race.py``), quoted nowhere.

    python benchmarks/bench_conv.py [--rounds 3] [--threads 2]

(a) Conv(1, 32, 3) then Conv(32, 64, 3), forward + backward, batch 128 of 28x28.
(b) The Keras MNIST CNN training step, batch 128: conv 32 3x3 relu, conv 64 3x3 relu,
    max-pool 2, flatten, dense 9216 -> 128 relu, dense 128 -> 10, cross-entropy, SGD.
(c) Nielsen's network step, mini-batch 10: conv 20 5x5, max-pool 2, relu, conv 40 5x5,
    max-pool 2, relu, dense 640 -> 100 relu, dense 100 -> 10, cross-entropy, SGD.
Both libraries get the same weights and data; the SGD update is written inline. Each
library runs in its own process, the two taking turns over rounds
(``_timing.alternate_processes``); medians over rounds are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable

import numpy as np

import chainrule as cr
import chainrule.functional as F
from _timing import alternate_processes, median_time, print_table, try_import_torch
from chainrule import nn

LR = 0.01


def sgd_step(loss, params) -> None:
    for p in params:
        p.grad = None
    loss.backward()
    for p in params:
        p.data -= LR * p.grad.data


def torch_sgd_step(torch, loss, params) -> None:
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= LR * p.grad


def torch_copy(torch, layers):
    """The same layers in PyTorch, holding chainrule's initial weights."""
    out = []
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            t = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size)
        elif isinstance(layer, nn.Linear):
            t = torch.nn.Linear(layer.in_features, layer.out_features)
        else:
            out.append(None)
            continue
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(layer.weight.numpy()))
            t.bias.copy_(torch.from_numpy(layer.bias.numpy()))
        out.append(t)
    return out


def two_convs(torch) -> dict[str, Callable[[], None]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 1, 28, 28), dtype=np.float32)
    conv1, conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
    xt = cr.tensor(x)

    def chainrule_step():
        conv1.zero_grad()
        conv2.zero_grad()
        conv2(conv1(xt)).sum().backward()

    steps = {"chainrule": chainrule_step}
    if torch:
        t1, t2 = torch_copy(torch, [conv1, conv2])
        tx = torch.from_numpy(x)

        def torch_step():
            t1.zero_grad()
            t2.zero_grad()
            t2(t1(tx)).sum().backward()

        steps["torch"] = torch_step
    return steps


def keras_cnn(torch) -> dict[str, Callable[[], None]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    layers = [nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3), nn.Linear(9216, 128), nn.Linear(128, 10)]
    params = [p for layer in layers for p in layer.parameters()]
    xt, yt = cr.tensor(x), cr.tensor(y)
    conv1, conv2, dense1, dense2 = layers

    def chainrule_step():
        h = F.relu(conv2(F.relu(conv1(xt))))
        h = F.max_pool2d(h, 2).flatten(1)
        sgd_step(F.cross_entropy(dense2(F.relu(dense1(h))), yt), params)

    steps = {"chainrule": chainrule_step}
    if torch:
        t_layers = torch_copy(torch, layers)
        t_params = [p for layer in t_layers for p in layer.parameters()]
        tc1, tc2, td1, td2 = t_layers
        tf = torch.nn.functional
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            h = tf.relu(tc2(tf.relu(tc1(tx))))
            h = tf.max_pool2d(h, 2).flatten(1)
            torch_sgd_step(torch, tf.cross_entropy(td2(tf.relu(td1(h))), ty), t_params)

        steps["torch"] = torch_step
    return steps


def nielsen_cnn(torch) -> dict[str, Callable[[], None]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 10)
    layers = [nn.Conv2d(1, 20, 5), nn.Conv2d(20, 40, 5), nn.Linear(640, 100), nn.Linear(100, 10)]
    params = [p for layer in layers for p in layer.parameters()]
    xt, yt = cr.tensor(x), cr.tensor(y)
    conv1, conv2, dense1, dense2 = layers

    def chainrule_step():
        h = F.relu(F.max_pool2d(conv1(xt), 2))
        h = F.relu(F.max_pool2d(conv2(h), 2)).flatten(1)
        sgd_step(F.cross_entropy(dense2(F.relu(dense1(h))), yt), params)

    steps = {"chainrule": chainrule_step}
    if torch:
        t_layers = torch_copy(torch, layers)
        t_params = [p for layer in t_layers for p in layer.parameters()]
        tc1, tc2, td1, td2 = t_layers
        tf = torch.nn.functional
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            h = tf.relu(tf.max_pool2d(tc1(tx), 2))
            h = tf.relu(tf.max_pool2d(tc2(h), 2)).flatten(1)
            torch_sgd_step(torch, tf.cross_entropy(td2(tf.relu(td1(h))), ty), t_params)

        steps["torch"] = torch_step
    return steps


CASES = {  # name: (label, the steps' builder, timed steps, calls per timed step)
    "two-convs": ("(a) conv 1->32->64 3x3 fwd+bwd, N=128", two_convs, 15, 1),
    "keras-cnn": ("(b) Keras CNN train step, N=128", keras_cnn, 15, 1),
    "nielsen-cnn": ("(c) Nielsen CNN train step, N=10", nielsen_cnn, 30, 20),
}


def child(library: str, case: str, threads: int) -> dict[str, float]:
    """One library's step for one case, timed in this process."""
    torch = try_import_torch() if library == "torch" else None
    if torch:
        torch.set_num_threads(threads)
    cr.manual_seed(0)
    _, build, repeats, inner = CASES[case]
    return {"s": median_time(build(torch)[library], repeats=repeats, inner=inner)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, threads=args.threads)))
        return
    libs = ["chainrule"] + (["torch"] if try_import_torch() else [])
    samples = alternate_processes(
        os.path.abspath(__file__), libs, list(CASES), args.rounds, args.threads,
        ["--threads", str(args.threads)],
    )  # fmt: skip
    rows = [
        (CASES[case][0], {lib: statistics.median(samples[case][lib]["s"]) for lib in libs})
        for case in CASES
    ]
    print_table(f"Convolutional networks, float32, CPU (median of {args.rounds} rounds)", rows)


if __name__ == "__main__":
    main()
