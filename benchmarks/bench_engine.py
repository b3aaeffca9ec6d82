"""Engine overhead and an MLP training step, side by side with NumPy by hand and PyTorch.

    python benchmarks/bench_engine.py [--rounds 3] [--json FILE]
    python benchmarks/bench_engine.py --readme FILE    # rewrite README.md's table from FILE

Each (library, benchmark) pair runs in its own process, the libraries taking turns
over >= 3 rounds (see _timing.alternate_processes); medians and min-max are reported.

Per-op overhead: c = (a * b).sum() forward and backward on 10 floats. MLP step:
784-512-512-10 ReLU, cross-entropy, SGD, batch 128, float32. The hand-written NumPy
version is the same arithmetic with the backward pass written out (the floor an engine
on NumPy can reach); PyTorch runs on the CPU when installed.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

import chainrule as cr
import chainrule.functional as F
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

BATCH, SIZES, LR = 128, (784, 512, 512, 10), 0.01


def op_overhead(library: str):
    """The step of one library: (a*b).sum() forward and backward on 10 floats."""
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal(10, dtype=np.float32), rng.standard_normal(10, dtype=np.float32)
    a, b = cr.tensor(av, requires_grad=True), cr.tensor(bv, requires_grad=True)

    def chainrule_step():
        a.grad = b.grad = None
        (a * b).sum().backward()

    def numpy_step():
        c = (av * bv).sum()
        grad_c = np.ones_like(c)
        return grad_c * bv, grad_c * av

    if library == "chainrule":
        return chainrule_step
    if library == "numpy":
        return numpy_step
    torch = try_import_torch()
    if torch:
        ta = torch.tensor(av, requires_grad=True)
        tb = torch.tensor(bv, requires_grad=True)

        def torch_step():
            ta.grad = tb.grad = None
            (ta * tb).sum().backward()

        return torch_step
    raise SystemExit("PyTorch is not installed: pip install torch==2.13.0")


def mlp_step(library: str):
    """The step of one library: an SGD step of the 784-512-512-10 MLP."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    weights = [
        ((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32), np.zeros(o, np.float32))
        for i, o in zip(SIZES[:-1], SIZES[1:])
    ]

    params = [cr.tensor(a, requires_grad=True) for pair in weights for a in pair]
    xt, yt = cr.tensor(x), cr.tensor(y)

    def chainrule_step():
        h = xt
        for i in range(0, len(params) - 2, 2):
            h = F.relu(F.linear(h, params[i], params[i + 1]))
        loss = F.cross_entropy(F.linear(h, params[-2], params[-1]), yt)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data

    np_params = [a.copy() for pair in weights for a in pair]

    def numpy_step():
        hs, masks = [x], []
        for i in range(0, len(np_params) - 2, 2):
            z = hs[-1] @ np_params[i].T + np_params[i + 1]
            masks.append(z > 0)
            hs.append(z * masks[-1])
        logits = hs[-1] @ np_params[-2].T + np_params[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = probs
        grad[np.arange(BATCH), y] -= 1
        grad /= BATCH
        for layer in range(len(np_params) // 2 - 1, -1, -1):
            w = np_params[2 * layer]
            grad_w = grad.T @ hs[layer]
            grad_b = grad.sum(axis=0)
            if layer:
                grad = (grad @ w) * masks[layer - 1]
            np_params[2 * layer] -= LR * grad_w
            np_params[2 * layer + 1] -= LR * grad_b

    if library == "chainrule":
        return chainrule_step
    if library == "numpy":
        return numpy_step
    torch = try_import_torch()
    if torch:
        tparams = [torch.tensor(a.copy(), requires_grad=True) for pair in weights for a in pair]
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.SGD(tparams, lr=LR)

        def torch_step():
            h = tx
            for i in range(0, len(tparams) - 2, 2):
                h = torch.relu(torch.nn.functional.linear(h, tparams[i], tparams[i + 1]))
            loss = torch.nn.functional.cross_entropy(
                torch.nn.functional.linear(h, tparams[-2], tparams[-1]), ty
            )
            opt.zero_grad()
            loss.backward()
            opt.step()

        return torch_step
    raise SystemExit("PyTorch is not installed: pip install torch==2.13.0")


CASES = {
    "op": ("per-op overhead, `(a*b).sum()` fwd+bwd", op_overhead, 2000),
    "mlp": (f"MLP {'-'.join(map(str, SIZES))} step, batch {BATCH}", mlp_step, 1),
}
BEGIN, END = "<!-- engine:begin -->", "<!-- engine:end -->"


def child(library: str, case: str, threads: int) -> dict[str, float]:
    torch = try_import_torch() if library == "torch" else None
    if torch:
        torch.set_num_threads(threads)
    _, build, inner = CASES[case]
    return {"s": median_time(build(library), repeats=30, inner=inner)}


def readme_table(results: dict) -> str:
    libs = results["libraries"]
    names = {"chainrule": "chainrule", "numpy": "NumPy by hand", "torch": "PyTorch CPU"}
    head = "| benchmark | " + " | ".join(names[lib] for lib in libs)
    head += "".join(f" | chainrule / {names[lib]}" for lib in libs if lib != "chainrule")
    lines = [
        f"Median [min - max] of {results['rounds']} rounds, each library in its own process, "
        f"{results['threads']} threads.",
        "",
        head + " |",
        "|---" * (1 + len(libs) + len(libs) - 1) + "|",
    ]
    for case, row in results["cases"].items():
        cells = [
            f"{format_seconds(row[lib]['median']).strip()} "
            f"[{format_seconds(row[lib]['min']).strip()} - {format_seconds(row[lib]['max']).strip()}]"
            for lib in libs
        ]
        ratios = [
            f"**{row['chainrule']['median'] / row[lib]['median']:.2f}x**"
            for lib in libs
            if lib != "chainrule"
        ]
        lines.append(f"| {CASES[case][0]} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--readme", metavar="FILE", help="rewrite README.md's table from FILE")
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, threads=args.threads)))
        return
    if args.readme:
        with open(args.readme) as f:
            results = json.load(f)
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
        replace_between(readme, BEGIN, END, readme_table(results))
        return
    libs = ["chainrule", "numpy"] + (["torch"] if try_import_torch() else [])
    samples = alternate_processes(
        os.path.abspath(__file__), libs, list(CASES), args.rounds, args.threads,
        ["--threads", str(args.threads)],
    )  # fmt: skip
    results = {
        "machine": machine(),
        "threads": args.threads,
        "rounds": args.rounds,
        "libraries": libs,
        "cases": {case: {lib: summary(samples[case][lib]["s"]) for lib in libs} for case in CASES},
    }
    print(readme_table(results))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
