"""The same code on a GPU (CuPy): every op, layer and optimiser gives what it gives on the
CPU, training moves batches to the model's device, and checkpoints load on either device.

Skipped, saying so, where CuPy or a GPU is missing. Nothing here is faked: these tests
only ever run on a real GPU.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn, optim
from chainrule import functional as F
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import Trainer, load, save

NO_GPU = "no GPU/CuPy on this machine"


def gpu_missing():
    try:
        import cupy
    except ImportError:
        return True
    try:
        return cupy.cuda.runtime.getDeviceCount() < 1
    except Exception:  # CuPy installed without a driver or device
        return True


pytestmark = pytest.mark.skipif(gpu_missing(), reason=NO_GPU)
DEVICE = "cuda"


@pytest.fixture
def float64():
    cr.set_default_float_dtype("float64")
    yield
    cr.set_default_float_dtype("float32")


def rand(*shape, seed=0, positive=False):
    a = np.random.default_rng(seed).normal(size=shape)
    return np.abs(a) + 0.5 if positive else a


INDEX = np.array([0, 2, 2, 1])
LABELS = np.array([0, 2, 1, 2])

# name: (function of tensors, input arrays)
OPS = {
    "add_broadcast": (lambda a, b: a + b, [rand(3, 4), rand(4, seed=1)]),
    "mul_div": (lambda a, b: a * b / (b * b + 1), [rand(3, 4), rand(3, 4, seed=1)]),
    "pow_sqrt_log": (lambda a: (a**1.5).sqrt() + a.log(), [rand(5, positive=True)]),
    "exp_tanh_sigmoid": (lambda a: a.exp() + a.tanh() + a.sigmoid(), [rand(2, 3)]),
    "relu_elu_gelu": (lambda a: F.relu(a) + F.elu(a) + F.gelu(a), [rand(2, 3)]),
    "matmul_batched": (lambda a, b: a @ b, [rand(2, 3, 4), rand(4, 5, seed=1)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [rand(3, 4), rand(2, 4, seed=1), rand(2)]),
    "sum_mean_axis": (lambda a: a.sum(axis=0) * a.mean(axis=1, keepdims=True), [rand(3, 4)]),
    "max_min": (lambda a: a.max(axis=1) - a.min(axis=0).sum(), [rand(3, 4)]),
    "var_std": (lambda a: a.var(axis=0) + a.std(), [rand(4, 3)]),
    "softmax_logsumexp": (
        lambda a: F.softmax(a, axis=1) * F.logsumexp(a, axis=1, keepdims=True),
        [rand(3, 4)],
    ),
    "log_softmax": (lambda a: F.log_softmax(a, axis=-1), [rand(3, 4)]),
    "cross_entropy": (
        lambda a: F.cross_entropy(a, cr.tensor(LABELS, device=a.device)),
        [rand(4, 3)],
    ),
    "nll_loss": (
        lambda a: F.nll_loss(F.log_softmax(a, axis=1), cr.tensor(LABELS, device=a.device)),
        [rand(4, 3)],
    ),
    "mse_l1": (lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b), [rand(3, 2), rand(3, 2, seed=1)]),
    "bce_with_logits": (
        lambda a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()),
        [rand(5), rand(5, seed=1)],
    ),
    "getitem_repeated_index": (lambda a: a[INDEX] * 2, [rand(3, 2)]),
    "getitem_slices": (lambda a: a[1:, ::2], [rand(3, 4)]),
    "reshape_transpose_permute": (lambda a: a.reshape(4, 3).T.permute(1, 0) * 1.0, [rand(3, 4)]),
    "concatenate_stack": (
        lambda a, b: F.concatenate([a, b]) + F.stack([a, b]).sum(axis=0).sum(),
        [rand(2, 3), rand(2, 3, seed=1)],
    ),
    "pad_where_clip": (
        lambda a: F.where(a > 0, a, a * 0.1).clip(-0.5, 0.5) + F.pad(a, ((1, 0), (0, 2)))[1:, :3],
        [rand(3, 3)],
    ),
    "maximum_minimum": (lambda a, b: F.maximum(a, b) + F.minimum(a, b), [rand(4), rand(4, seed=1)]),
}


def run_op(fn, arrays, device):
    inputs = [cr.tensor(a, requires_grad=True, device=device) for a in arrays]
    out = fn(*inputs)
    upstream = np.random.default_rng(9).normal(size=out.shape)
    out.backward(cr.tensor(upstream, device=device))
    assert out.device == device and all(t.grad.device == device for t in inputs)
    return out.numpy(), [t.grad.numpy() for t in inputs]


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_on_the_gpu_gives_the_cpu_values_and_gradients(float64, name):
    fn, arrays = OPS[name]
    cpu_out, cpu_grads = run_op(fn, arrays, "cpu")
    gpu_out, gpu_grads = run_op(fn, arrays, DEVICE)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-9, atol=1e-12)
    for gpu, cpu in zip(gpu_grads, cpu_grads):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)


def layers(dropout=0.3):
    """A model of every kind of layer (convolution and pooling once nn has them).

    Compared across devices with ``dropout=0``: a GPU draws its masks from its own
    generator, so they are not the CPU's (``test_dropout_on_the_gpu...`` checks them)."""
    dense = [
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(16, 16),
        nn.Tanh(),
        nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.ELU())),
        nn.Linear(16, 3),
    ]
    if hasattr(nn, "Conv2d") and hasattr(nn, "MaxPool2d"):
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.ReLU(),
            *dense,
        )
    return nn.Sequential(*dense)


def test_every_layer_runs_on_the_gpu_as_on_the_cpu(float64):
    x = rand(6, 1, 8, 8)
    results = {}
    for device in ("cpu", DEVICE):
        cr.manual_seed(1)  # same initial weights
        model = layers(dropout=0).to(device)
        out = model(cr.tensor(x, device=device))
        F.cross_entropy(out, cr.tensor(np.array([0, 1, 2, 0, 1, 2]), device=device)).backward()
        assert all(p.grad.device == device for p in model.parameters())
        results[device] = (
            out.numpy(),
            [p.grad.numpy() for p in model.parameters()],
            model.state_dict(),
        )
    (out_cpu, grads_cpu, state_cpu), (out_gpu, grads_gpu, state_gpu) = (
        results["cpu"],
        results[DEVICE],
    )
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=1e-9, atol=1e-12)
    for gpu, cpu in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-8, atol=1e-11)
    for name in state_cpu:  # batch norm's running statistics too
        np.testing.assert_allclose(state_gpu[name], state_cpu[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax"]
)
def test_optimizer_steps_on_the_gpu_as_on_the_cpu(float64, name):
    options = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    states = []
    for device in ("cpu", DEVICE):
        cr.manual_seed(2)
        model = nn.Linear(4, 3).to(device)
        opt = getattr(optim, name)(model.parameters(), **options)
        for step in range(3):
            model.zero_grad()
            (model(cr.tensor(rand(5, 4, seed=step), device=device)) ** 2).sum().backward()
            opt.step()
        states.append(model.state_dict())
    for name_, value in states[0].items():
        np.testing.assert_allclose(states[1][name_], value, rtol=1e-9, atol=1e-12)


def test_fit_moves_batches_to_the_model_on_the_gpu_and_matches_the_cpu(float64):
    x, y = rand(64, 1, 8, 8), np.random.default_rng(3).integers(0, 3, 64)
    final = {}
    for device in ("cpu", DEVICE):
        cr.manual_seed(4)
        model = layers(dropout=0).to(device)
        trainer = Trainer(
            model,
            loss="cross_entropy",
            optimizer=optim.Adam(model.parameters(), lr=0.01),
            metrics=["accuracy"],
            verbose=0,
        )
        history = trainer.fit((x, y), epochs=2, batch_size=16, validation_data=(x[:16], y[:16]))
        final[device] = (model.state_dict(), history.history)
        assert all(p.device == device for p in model.parameters())
    for name, value in final["cpu"][0].items():
        np.testing.assert_allclose(final[DEVICE][0][name], value, rtol=1e-7, atol=1e-9)
    for key, values in final["cpu"][1].items():
        np.testing.assert_allclose(final[DEVICE][1][key], values, rtol=1e-7, atol=1e-9)


def test_dropout_on_the_gpu_draws_its_masks_there_reproducibly():
    x = cr.ones(200, 100, device=DEVICE, requires_grad=True)
    outputs = []
    for _ in range(2):
        cr.manual_seed(6)
        outputs.append([F.dropout(x, 0.3) for _ in range(2)])
    first, again = outputs
    assert first[0].device == DEVICE
    np.testing.assert_array_equal(first[0].numpy(), again[0].numpy())  # same seed, same mask
    assert not np.array_equal(first[0].numpy(), first[1].numpy())
    values = first[0].numpy()
    assert set(np.unique(values)) == {0.0, np.float32(1 / 0.7)}
    assert abs((values == 0).mean() - 0.3) < 0.01  # 20,000 draws: 0.3 +- 0.003 (1 sd)
    first[0].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the gradient masked the same way


def test_default_device_cuda_puts_tensors_parameters_and_batches_on_the_gpu():
    backend.set_default_device(DEVICE)
    try:
        assert cr.zeros(3).device == cr.randn(2).device == cr.tensor([1.0]).device == DEVICE
        model = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))
        assert {t.device for t in model.state_dict().values()} == {"cpu"}  # saved on the host
        assert {p.device for p in model.parameters()} == {DEVICE}
        assert {b.device for _, b in model.named_buffers()} == {DEVICE}
        loader = DataLoader(TensorDataset(rand(10, 4), np.arange(10) % 2), batch_size=4)
        xb, yb = next(iter(loader))
        assert xb.device == yb.device == DEVICE
        assert model(xb).device == DEVICE
    finally:
        backend.set_default_device("cpu")


def test_checkpoints_saved_on_one_device_load_on_the_other(tmp_path, float64):
    cr.manual_seed(5)
    gpu_model = layers().to(DEVICE)
    gpu_opt = optim.Adam(gpu_model.parameters(), lr=0.01)
    F.cross_entropy(
        gpu_model(cr.tensor(rand(4, 1, 8, 8), device=DEVICE)),
        cr.tensor(np.array([0, 1, 2, 0]), device=DEVICE),
    ).backward()
    gpu_opt.step()
    save({"model": gpu_model.state_dict(), "optimizer": gpu_opt.state_dict()}, tmp_path / "gpu.npz")

    cpu_model = layers()
    cpu_opt = optim.Adam(cpu_model.parameters(), lr=0.01)
    state = load(tmp_path / "gpu.npz")
    cpu_model.load_state_dict(state["model"])
    cpu_opt.load_state_dict(state["optimizer"])
    assert {p.device for p in cpu_model.parameters()} == {"cpu"}
    for name, value in gpu_model.state_dict().items():
        np.testing.assert_array_equal(cpu_model.state_dict()[name], value)

    back = layers().to(DEVICE)
    back_opt = optim.Adam(back.parameters(), lr=0.01)
    back.load_state_dict(cpu_model.state_dict())
    back_opt.load_state_dict(cpu_opt.state_dict())
    assert {p.device for p in back.parameters()} == {DEVICE}
    assert all(
        backend.device_of(v) == DEVICE
        for s in back_opt.state.values()
        for v in s.values()
        if hasattr(v, "shape")
    )
