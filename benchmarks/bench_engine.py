"""Engine overhead and an MLP training step, side by side with NumPy by hand and PyTorch.

    python benchmarks/bench_engine.py

Per-op overhead: c = (a * b).sum() forward and backward on 10 floats. MLP step:
784-512-512-10 ReLU, cross-entropy, SGD, batch 128, float32. The hand-written NumPy
version is the same arithmetic with the backward pass written out (the floor an engine
on NumPy can reach); PyTorch runs on the CPU when installed.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.functional as F
from _timing import median_time, print_table, try_import_torch

BATCH, SIZES, LR = 128, (784, 512, 512, 10), 0.01


def op_overhead() -> dict[str, float]:
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

    times = {
        "chainrule": median_time(chainrule_step, inner=2000),
        "numpy": median_time(numpy_step, inner=2000),
    }
    torch = try_import_torch()
    if torch:
        ta = torch.tensor(av, requires_grad=True)
        tb = torch.tensor(bv, requires_grad=True)

        def torch_step():
            ta.grad = tb.grad = None
            (ta * tb).sum().backward()

        times["torch"] = median_time(torch_step, inner=2000)
    return times


def mlp_step() -> dict[str, float]:
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

    times = {"chainrule": median_time(chainrule_step), "numpy": median_time(numpy_step)}
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

        times["torch"] = median_time(torch_step)
    return times


def main() -> None:
    torch = try_import_torch()
    if torch:
        torch.set_num_threads(torch.get_num_threads())
    rows = [
        ("per-op overhead: (a*b).sum() fwd+bwd", op_overhead()),
        (f"MLP {'-'.join(map(str, SIZES))} step, batch {BATCH}", mlp_step()),
    ]
    print_table("chainrule engine benchmark (median of 30 after warm-up)", rows)
    if not torch:
        print("\nPyTorch not installed: pip install torch==2.13.0 adds the PyTorch column.")


if __name__ == "__main__":
    main()
