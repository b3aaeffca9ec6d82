"""First- against second-order optimisation, full batch: iterations and seconds to a fixed
training loss on scikit-learn's digits, for SGD, momentum, Adam, L-BFGS and Newton.

    python benchmarks/second_order.py --json benchmarks/results/second_order.json
    python benchmarks/second_order.py --readme benchmarks/results/second_order.json

Two models: multinomial logistic regression (64 -> 10, 650 parameters, convex) and an MLP
64-32-10 with tanh (2,410 parameters). The whole training set (1,797 images, pixels
/ 16) is one batch, in float64. Every run starts from the same initial weights
(``manual_seed(0)``). An iteration is one update; the count is the number of updates
made before the training loss, measured at the current weights, first falls to the
target. Evaluations are forward + backward passes (L-BFGS's line search and Newton's
accept-or-damp test make several per iteration); Newton also counts its Hessian-vector
products. First-order learning rates are tuned on a factor-3 grid (fewest iterations;
see ``tune``); the table gives the one chosen. Seconds are the wall time of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import chainrule as cr
import chainrule.functional as F
from _readme import replace_between
from _timing import machine, write_json
from chainrule import nn, optim

BEGIN, END = "<!-- second-order:begin -->", "<!-- second-order:end -->"

PROBLEMS = {
    "logistic": {"label": "logistic regression 64-10", "target": 0.15},
    "mlp": {"label": "MLP 64-32-10, tanh", "target": 0.05},
}
MAX_ITERATIONS = {"first": 3000, "lbfgs": 500, "newton": 100}
# First-order learning rates: from these, up (then down) by factors of 3 until worse.
START_LR = {"SGD": 1.0, "momentum": 0.3, "Adam": 0.01}


def load() -> tuple[cr.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return cr.tensor(x / 16.0, dtype="float64"), y.astype(np.int64)


def build(problem: str) -> nn.Module:
    cr.manual_seed(0)
    if problem == "logistic":
        model = nn.Sequential(nn.Linear(64, 10))
    else:
        model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    return model.double()


def make_optimizer(name: str, params: list, lr: float | None) -> optim.Optimizer:
    if name == "SGD":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "Adam":
        return optim.Adam(params, lr=lr)
    if name == "L-BFGS":
        return optim.LBFGS(
            params, max_iter=1, max_eval=25, history_size=20, line_search_fn="strong_wolfe"
        )
    return optim.Newton(params, method="cg", cg_max_iter=50, cg_tol=1e-8)


def run(problem: str, name: str, lr: float | None, x: cr.Tensor, y: np.ndarray) -> dict:
    """Train until the loss reaches the problem's target (or the iteration cap)."""
    model = build(problem)
    params = list(model.parameters())
    opt = make_optimizer(name, params, lr)
    target = PROBLEMS[problem]["target"]
    second_order = name in ("L-BFGS", "Newton")
    cap = MAX_ITERATIONS["lbfgs" if name == "L-BFGS" else "newton" if name == "Newton" else "first"]
    evaluations = 0
    create_graph = name == "Newton"

    def closure() -> cr.Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward(create_graph=create_graph)
        return loss

    start = time.perf_counter()
    loss = float("nan")
    iterations = 0
    reached = False
    while iterations <= cap:
        if second_order:
            loss = float(opt.step(closure).item())  # the loss before this step's update
        else:
            loss = float(closure().item())
        if loss <= target:
            reached = True
            break
        if not np.isfinite(loss):
            break
        if not second_order:
            opt.step()
        iterations += 1
    seconds = time.perf_counter() - start
    result = {
        "optimizer": name,
        "lr": lr,
        "reached": reached,
        "iterations": iterations,
        "evaluations": evaluations,
        "seconds": seconds,
        "final_loss": loss,
    }
    if name == "Newton":
        result["hessian_vector_products"] = opt.state[params[0]]["hessian_vector_products"]
    return result


def _rank(result: dict) -> tuple:
    return (not result["reached"], result["iterations"], result["seconds"])


def tune(problem: str, name: str, x: cr.Tensor, y: np.ndarray) -> tuple[dict, list[float]]:
    """The run with the best learning rate: from START_LR, multiplied by 3 while that
    helps, then (if the start was best) divided by 3 while that helps; so the chosen
    rate's neighbours on the factor-3 grid were both tried and were no better."""
    tried: list[float] = []
    best = run(problem, name, START_LR[name], x, y)
    tried.append(START_LR[name])
    for factor in (3.0, 1 / 3.0):
        lr = START_LR[name]
        while len(tried) < 10:
            lr *= factor
            result = run(problem, name, lr, x, y)
            tried.append(lr)
            if _rank(result) >= _rank(best):
                break
            best = result
        if best["lr"] != START_LR[name]:
            break  # it improved going up: the start's lower neighbour is no better
    return best, sorted(tried)


def benchmark() -> dict:
    x, y = load()
    results: dict = {"machine": machine(), "problems": {}}
    for problem, spec in PROBLEMS.items():
        rows = []
        for name in ("SGD", "momentum", "Adam", "L-BFGS", "Newton"):
            if name in START_LR:
                best, tried = tune(problem, name, x, y)
                best["tried_lr"] = tried
            else:
                best = run(problem, name, None, x, y)
            rows.append(best)
            print(
                f"{problem:9s} {name:9s} lr={best['lr']} reached={best['reached']} "
                f"iterations={best['iterations']} evaluations={best['evaluations']} "
                f"seconds={best['seconds']:.2f} loss={best['final_loss']:.4f}",
                flush=True,
            )
        results["problems"][problem] = {**spec, "rows": rows}
    return results


def readme_table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Measured on {m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy "
        f"{m['numpy']}; digits (1,797 images) as one batch, float64, the same initial weights "
        "for every optimiser; each first-order learning rate tuned on a factor-3 grid (its "
        "neighbours on the grid were tried and were no better). Seconds are the wall time of "
        "one run each, 2 threads (a 10-30% spread between runs on this virtual machine); "
        "iterations and evaluations are exact. Newton's seconds are mostly its "
        "Hessian-vector products, one double backward each.",
        "",
        "| model (target training loss) | optimiser | iterations | evaluations | seconds |",
        "|---|---|---|---|---|",
    ]
    for spec in results["problems"].values():
        for row in spec["rows"]:
            name = row["optimizer"] + (f" (lr {row['lr']:g})" if row["lr"] is not None else "")
            if row["optimizer"] == "L-BFGS":
                name += " (strong Wolfe, history 20)"
            if row["optimizer"] == "Newton":
                name += f" (CG, {row['hessian_vector_products']} Hessian-vector products)"
            count = f"{row['iterations']}" if row["reached"] else f"> {row['iterations'] - 1}"
            lines.append(
                f"| {spec['label']} ({spec['target']:g}) | {name} | {count} | "
                f"{row['evaluations']} | {row['seconds']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--readme", metavar="FILE", help="rewrite README.md's table from FILE")
    args = parser.parse_args()
    if args.readme:
        with open(args.readme) as f:
            results = json.load(f)
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
        replace_between(readme, BEGIN, END, readme_table(results))
        return
    results = benchmark()
    print()
    print(readme_table(results))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
