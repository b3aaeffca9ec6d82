"""The side-by-side benchmarks' fairness: each library timed in a process of its own,
the libraries taking turns, the order flipping every round (``_timing.alternate_processes``,
which race.py, bench_engine.py and bench_conv.py all use)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import load_benchmark

CHILD = """
import json, os, sys
library, case = sys.argv[sys.argv.index("--child") + 1 :][:2]
with open(os.environ["LOG"], "a") as log:
    log.write(json.dumps([library, case, os.getpid(), os.environ["OMP_NUM_THREADS"]]) + "\\n")
print("noise first")
print(json.dumps({"s": float(len(library)), "case_len": float(len(case))}))
"""


def test_each_library_runs_in_its_own_process_taking_turns(tmp_path, monkeypatch):
    timing = load_benchmark("_timing.py")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("LOG", str(log))
    samples = timing.alternate_processes(str(script), ["lib-a", "b"], ["x", "yy"], 3, 2)
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(lib, case) for lib, case, _, _ in runs] == [
        ("lib-a", "x"), ("b", "x"), ("lib-a", "yy"), ("b", "yy"),  # round 1
        ("b", "x"), ("lib-a", "x"), ("b", "yy"), ("lib-a", "yy"),  # round 2: order flipped
        ("lib-a", "x"), ("b", "x"), ("lib-a", "yy"), ("b", "yy"),  # round 3
    ]  # fmt: skip
    assert len({pid for _, _, pid, _ in runs}) == len(runs)  # a fresh process every time
    assert {threads for *_, threads in runs} == {"2"}
    # one value per round, from each child's last line, under its library and case
    assert samples["x"]["lib-a"] == {"s": [5.0] * 3, "case_len": [1.0] * 3}
    assert samples["yy"]["b"]["case_len"] == [2.0] * 3


def test_the_race_gives_pytorch_the_same_model_and_weights():
    torch = pytest.importorskip("torch")
    import chainrule as cr

    race = load_benchmark("race.py")
    for name in race.MODELS:
        model, _, shape = race.build(name)
        twin = race.to_torch(torch, model).eval()
        x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
        model.eval()
        with cr.no_grad(), torch.no_grad():
            ours, theirs = model(cr.tensor(x)).numpy(), twin(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=name)
