"""The GPU path without a GPU: under tests/fake_cupy.py, a device whose arrays refuse to
become NumPy implicitly (as CuPy's do) and count every host-device transfer, training,
the doctor's monitor and federated averaging make no implicit conversion, and a
training step makes a bounded, documented number of transfers."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fake_cupy
from chainrule import backend, nn, optim
from chainrule.diagnose import Monitor
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.federated import FedAvg
from chainrule.train import Callback, LambdaCallback, fit

# Transfers of one training step of a CNN with dropout, batch norm, a metric and SGD:
# host to device: the batch (x, y) and a scalar operand (dropout draws its mask on the
# device); device to host: none, but for one copy every LOG_EVERY steps and at the
# epoch's last step, which brings back the step's loss and accuracy, the epoch's running
# sums and the loss's deferred target check. (Before: 4 to the device, with dropout's
# mask, and 4 back every step: the loss, the outputs and targets for the accuracy, and
# the target check.)
TO_DEVICE_PER_STEP = 3
TO_HOST_PER_STEP = 0
TO_HOST_PER_READ_BACK = 1


@pytest.fixture
def device(monkeypatch):
    counter = fake_cupy.install(monkeypatch)
    monkeypatch.setattr(backend.arrays, "_default_device", "cuda")
    yield counter
    assert counter.implicit == 0


def test_the_fake_device_refuses_implicit_conversion_and_counts_transfers(monkeypatch):
    counter = fake_cupy.install(monkeypatch)
    a = backend.asarray(np.ones(3, np.float32), device="cuda")
    assert backend.device_of(a) == "cuda" and counter.to_device == 1
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Implicit conversion"):
        a + np.ones(3)  # host memory in a device computation
    assert counter.implicit == 2
    np.testing.assert_array_equal(backend.to_numpy(a * 2), [2, 2, 2])
    assert counter.to_host == 1


def test_device_of_refuses_what_is_not_an_array_and_cuda_n_picks_gpu_n(monkeypatch):
    fake_cupy.install(monkeypatch)
    with pytest.raises(
        ArgumentTypeError, match="device_of: expected a NumPy or CuPy array; got builtins.list"
    ):
        backend.device_of([1.0])
    chosen = []
    cupy = backend.arrays._cupy
    original = cupy.cuda.Device

    class Device(original):
        def __enter__(self):
            chosen.append(self.id)
            return self

    monkeypatch.setattr(cupy, "cuda", type(cupy.cuda)(Device=Device))
    backend.to_device(np.ones(2), "cuda:1")
    backend.asarray([1.0], device="cuda:2")
    assert chosen == [1, 2]
    with pytest.raises(ArgumentError, match="unknown device 'cuda:x'; expected 'cuda' or 'cuda:N'"):
        backend.to_device(np.ones(2), "cuda:x")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_the_gradient_of_an_indexed_read_adds_up_repeats_in_every_float_dtype(device, dtype):
    import chainrule

    rng = np.random.default_rng(0)
    data = rng.standard_normal((5, 3)).astype(dtype)
    rows = np.array([0, 2, 2, 4, 0, 0])
    upstream = rng.standard_normal((6, 2, 3)).astype(dtype)
    expected = np.zeros((5, 3), dtype)
    np.add.at(expected, rows, upstream.sum(axis=1))
    x = chainrule.tensor(data, dtype=dtype, requires_grad=True)
    # rows read as a device index array: the integer-array path of cupyx.scatter_add, which
    # CuPy (and the fake device) refuses for float16 and float64
    index = backend.asarray(np.stack([rows, rows], axis=1), device="cuda")
    (x[index] * chainrule.tensor(upstream, dtype=dtype)).sum().backward()
    assert x.grad.dtype == np.dtype(dtype)
    tolerance = {"float16": 1e-2, "float32": 1e-6, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(
        backend.to_numpy(x.grad.data), expected, rtol=tolerance, atol=tolerance
    )


def test_the_fake_scatter_add_refuses_what_cupy_refuses(device):
    import cupyx

    target = backend.asarray(np.zeros(3), dtype="float64", device="cuda")
    index = backend.asarray(np.array([0, 0, 1]), device="cuda")
    with pytest.raises(TypeError, match="scatter_add only supports"):
        cupyx.scatter_add(target, index, backend.asarray(np.ones(3), device="cuda"))


def test_dropout_draws_its_mask_on_the_device_reproducibly_from_the_library_seed(device):
    import chainrule
    from chainrule import functional as F

    x = chainrule.tensor(np.ones((4, 50), np.float32), device="cuda")
    device.reset()
    masks = []
    for _ in range(2):
        backend.manual_seed(7)
        masks.append([backend.to_numpy(F.dropout(x, 0.5).data) for _ in range(2)])
    assert device.to_device == 0  # no mask crossed
    assert device.to_host == 4  # the test's own reads
    np.testing.assert_array_equal(masks[0], masks[1])  # the same seed, the same masks
    assert not np.array_equal(masks[0][0], masks[0][1])  # one generator, drawn on
    assert set(np.unique(masks[0][0])) == {0.0, 2.0}
    generator = np.random.default_rng(1)
    y = F.dropout(x, 0.5, generator=generator)
    assert backend.device_of(y.data) == "cuda" and device.to_device == 0


class StepTransfers(Callback):
    """Transfers from each step's start (its batch moving in) to its end."""

    def __init__(self, counter):
        self.counter, self.steps = counter, []

    def on_batch_end(self, batch, logs=None):
        self.steps.append((self.counter.to_device, self.counter.to_host))
        # the next step's batch moves to the device before on_batch_begin: count from here
        self.counter.to_device = self.counter.to_host = 0


def test_training_with_validation_and_monitor_makes_no_implicit_conversion(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((192, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 192)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(36, 3),
    )  # fmt: skip
    assert backend.device_of(model[0].weight.data) == "cuda"
    steps = StepTransfers(device)
    logged = []
    history = fit(
        model,
        (x, y),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        epochs=2,
        batch_size=8,  # 24 steps an epoch: read back after steps 0, 10, 20 and 23
        validation_data=(x, y),
        metrics=["accuracy"],
        callbacks=[steps, LambdaCallback(on_batch_end=lambda b, logs: logged.append(logs))],
        verbose=0,
    )
    assert np.isfinite(history.history["val_loss"]).all()
    read_back = {0, 10, 20, 23}
    first_epoch = steps.steps[1:24]  # after the first step
    assert [to_device for to_device, _ in first_epoch] == [TO_DEVICE_PER_STEP] * 23
    assert [to_host for _, to_host in first_epoch] == [
        TO_HOST_PER_READ_BACK if b in read_back else TO_HOST_PER_STEP for b in range(1, 24)
    ]
    assert [sorted(logs) for logs in logged[:24]] == [
        ["accuracy", "loss"] if b in read_back else [] for b in range(24)
    ]
    # the doctor's monitor adds one read a step: every layer's norms come back in one copy,
    # with the losses of the steps whose logs were not read
    steps = StepTransfers(device)
    monitor = Monitor(every=1)
    fit(
        model, (x, y), loss="cross_entropy", optimizer=optim.Adam(model.parameters()),
        epochs=1, batch_size=8, metrics=["accuracy"], callbacks=[monitor, steps], verbose=0,
    )  # fmt: skip
    assert [to_host for _, to_host in steps.steps[1:24]] == [
        1 + (TO_HOST_PER_READ_BACK if b in read_back else TO_HOST_PER_STEP) for b in range(1, 24)
    ]
    assert len(monitor.batch_loss) == 24 and np.isfinite(monitor.batch_loss).all()


def test_the_epoch_history_on_the_device_matches_the_cpu_run(device, monkeypatch):
    """The running sums kept on the device give the history the CPU's float sums give."""

    def run():
        backend.manual_seed(0)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((60, 4)).astype(np.float32)
        y = rng.integers(0, 3, 60)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        return fit(
            model, (x, y), loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=2, batch_size=7, metrics=["accuracy", "top3"], verbose=0,
        ).history  # fmt: skip

    on_device = run()
    monkeypatch.setattr(backend.arrays, "_default_device", "cpu")
    assert run() == on_device  # the fake computes with NumPy: the same numbers, exactly


def test_weights_a_penalty_and_a_host_metric_on_the_device_give_the_cpu_history(
    device, monkeypatch
):
    from chainrule.nn.regularization import l2_penalty

    def share_of_class_one(outputs, targets):  # no device version: outputs are copied
        return float((targets == 1).mean())

    def run():
        backend.manual_seed(0)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((60, 4)).astype(np.float32)
        y = rng.integers(0, 3, 60)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        return fit(
            model, (x, y), loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=2, batch_size=7, metrics=["accuracy", share_of_class_one],
            sample_weight=rng.uniform(0.5, 2.0, 60), regularizer=lambda m: l2_penalty(m, 1e-3), verbose=0,
        ).history  # fmt: skip

    on_device = run()
    monkeypatch.setattr(backend.arrays, "_default_device", "cpu")
    on_cpu = run()
    assert sorted(on_device) == sorted(on_cpu)
    # not exactly: the CPU sums a batch's weights in float32, the device in float64
    for key, values in on_cpu.items():
        np.testing.assert_allclose(on_device[key], values, rtol=1e-7)


def test_an_out_of_range_target_on_the_device_is_still_refused(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = nn.Sequential(nn.Linear(4, 3))

    class BadLabels(Callback):  # labels the preflight check of the data set cannot see
        def on_batch_begin(self, batch, logs=None):
            if batch == 2:
                y[:] = 7

    with pytest.raises(
        ArgumentError, match=r"class targets must lie in \[0, 3\); got values from 7"
    ):
        fit(model, (x, y), loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=4,
            callbacks=[BadLabels()], verbose=0)  # fmt: skip


def test_federated_averaging_makes_no_implicit_conversion(device):
    rng = np.random.default_rng(0)
    clients = [
        (rng.standard_normal((20, 4)).astype(np.float32), rng.integers(0, 2, 20)) for _ in range(4)
    ]
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    server = FedAvg(model, clients, lr=0.1, fraction=0.5, local_batch_size=5)
    before = backend.to_numpy(model[0].weight.data)
    server.run_round()
    assert backend.device_of(model[0].weight.data) == "cuda"
    assert not np.array_equal(backend.to_numpy(model[0].weight.data), before)


MPI_UNDER_THE_FAKE_DEVICE = """
import sys
import numpy as np
import fake_cupy
from chainrule import backend, nn, optim
from chainrule.distributed.mpi import MPIStrategy
from chainrule.train import fit

class Patch:
    setitem = staticmethod(lambda d, k, v: d.__setitem__(k, v))
    setattr = staticmethod(setattr)

counter = fake_cupy.install(Patch())
backend.set_default_device("cuda")
backend.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 4)).astype(np.float32)
y = rng.integers(0, 3, 64)
model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
history = fit(
    model, (x, y), loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
    epochs=2, batch_size=16, validation_data=(x, y), verbose=0, strategy=MPIStrategy(),
)
print(counter.implicit, history.history["loss"][1] < history.history["loss"][0])
"""


def test_a_federated_client_copies_its_data_to_the_device_once_a_round_not_per_batch(device):
    rng = np.random.default_rng(0)
    clients = [
        (rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 2, 40)) for _ in range(4)
    ]
    copies = []
    for batch_size in (5, 20):  # 8 batches a client, then 2
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        server = FedAvg(model, clients, lr=0.1, fraction=0.5, local_batch_size=batch_size)
        device.reset()
        server.run_round()  # batch norm: the one-client-at-a-time path
        copies.append(device.to_device - device.to_device_scalars)
    assert copies[0] == copies[1]


def test_the_mpi_strategy_makes_no_implicit_conversion():
    pytest.importorskip("mpi4py", reason="the mpi extra is not installed")
    # NOTE: in a subprocess: MPI_Init in a test worker would stay for its other tests
    tests = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "-c", MPI_UNDER_THE_FAKE_DEVICE],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"), str(tests)])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "True"]  # no implicit conversion; it learned
