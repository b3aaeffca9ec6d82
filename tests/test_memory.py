"""Memory stays flat: each step's graph and its buffers are freed when the step ends, by
reference counting alone (no cycles for the garbage collector to find)."""

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.autograd.engine import topological_order
from chainrule.autograd.function import Function
from chainrule.data import transforms
from chainrule.train import LambdaCallback, fit


def mlp():
    return nn.Sequential(
        nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4)
    )


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 4),
    )


def graph_refs(root):
    """Weak references to every tensor and node of the graph behind ``root``."""
    refs = []
    for t in topological_order(root):
        refs.append(weakref.ref(t))
        refs.append(weakref.ref(t._ctx))
    return refs


@pytest.mark.parametrize("build, shape", [(mlp, (16, 20)), (cnn, (16, 1, 8, 8))])
def test_no_graph_node_outlives_its_training_step(build, shape):
    model = build()
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = cr.randn(*shape)
    y = cr.tensor(np.arange(16) % 4)
    gc.disable()  # whatever is freed must be freed by reference counting
    try:
        for _ in range(3):
            loss = F.cross_entropy(model(x), y)
            refs = graph_refs(loss)
            assert len(refs) > 10
            model.zero_grad()
            loss.backward()
            opt.step()
            del loss
            alive = [r() for r in refs if r() is not None]
            assert alive == [], f"{len(alive)} graph objects outlived the step: {alive[:3]}"
    finally:
        gc.enable()


def test_a_graph_built_but_never_differentiated_is_freed_with_its_output():
    model = cnn()
    out = model(cr.randn(4, 1, 8, 8)).sum()
    refs = graph_refs(out)
    gc.disable()
    try:
        del out
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def live_nodes():
    return sum(isinstance(o, Function) for o in gc.get_objects())


def test_fit_holds_no_graph_between_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 96)
    counts = []

    def count(batch, logs):
        if batch % 2 == 0:
            counts.append(live_nodes())

    fit(
        cnn(),
        (x, y),
        loss="cross_entropy",
        optimizer="adam",
        epochs=2,
        batch_size=16,
        validation_split=0.25,
        metrics=["accuracy"],
        transform=transforms.GaussianNoise(0.1),
        callbacks=[LambdaCallback(on_batch_end=count)],
        verbose=0,
    )
    assert counts and set(counts) == {0}


RSS_SCRIPT = """
import numpy as np
import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * {page} // 1024

cr.manual_seed(0)
rng = np.random.default_rng(0)
x = cr.tensor(rng.normal(size=(64, 100)).astype(np.float32))
y = cr.tensor(rng.integers(0, 10, 64))
model = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for step in range(1, {steps} + 1):
    loss = F.cross_entropy(model(x), y)
    model.zero_grad()
    loss.backward()
    opt.step()
    if step == 100:
        at_100 = rss_kib()
print(at_100, rss_kib())
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_resident_memory_after_2000_steps_is_within_5_percent_of_step_100():
    import os

    script = RSS_SCRIPT.format(page=os.sysconf("SC_PAGE_SIZE"), steps=2000)
    src = str(Path(cr.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "1"},
    )
    at_100, at_end = map(int, out.stdout.split())
    assert at_end <= 1.05 * at_100, f"RSS grew from {at_100} KiB to {at_end} KiB"
