"""Federated averaging: the server's weighted average, FedSGD as full-batch gradient
descent, batched and one-by-one client training agreeing, and the paper's partitions."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ArgumentError
from chainrule.federated import (
    FedAvg,
    FedSGD,
    iid_partition,
    is_stackable,
    pathological_non_iid_partition,
    train_sequential,
    train_stacked,
    weighted_average,
)
from chainrule.train.resolve import get_loss


@pytest.fixture
def float64():
    cr.set_default_float_dtype("float64")
    yield
    cr.set_default_float_dtype("float32")


def toy_clients(sizes, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    clients = []
    for n in sizes:
        x = rng.normal(size=(n, features))
        y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
        clients.append((x, np.minimum(y, classes - 1)))
    return clients


def mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


class NotStackable(nn.Module):
    """An MLP written as a custom module: trained one client after another."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(5, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(self.hidden(x).tanh())


def test_weighted_average_is_the_hand_computed_one():
    a = {"w": np.array([1.0, 2.0]), "b": np.array([[0.0]])}
    b = {"w": np.array([5.0, -2.0]), "b": np.array([[4.0]])}
    average = weighted_average([a, b], [100, 300])
    np.testing.assert_allclose(average["w"], [(100 * 1 + 300 * 5) / 400, (200 - 600) / 400])
    np.testing.assert_allclose(average["b"], [[3.0]])


def test_weighted_average_keeps_float32_and_rejects_zero_weights():
    state = {"w": np.ones(3, np.float32)}
    assert weighted_average([state, state], [1, 2])["w"].dtype == np.float32
    with pytest.raises(ArgumentError, match="sum to a positive number"):
        weighted_average([state], [0])


@pytest.mark.parametrize("make_model", [mlp, NotStackable])
def test_fedsgd_with_every_client_is_one_step_of_full_batch_gradient_descent(float64, make_model):
    clients = toy_clients([7, 12, 5, 9])
    model = make_model()
    reference = make_model()
    reference.load_state_dict(model.state_dict())
    FedSGD(model, clients, lr=0.3, fraction=1.0).run_round()

    x = np.concatenate([c[0] for c in clients])
    y = np.concatenate([c[1] for c in clients])
    loss = cr.functional.cross_entropy(reference(cr.tensor(x)), cr.tensor(y))  # mean over all
    loss.backward()
    for name, p in reference.named_parameters():
        expected = p.data - 0.3 * p.grad.data
        np.testing.assert_allclose(model.state_dict()[name], expected, rtol=0, atol=1e-13)


def test_batched_and_one_by_one_client_training_give_the_same_models(float64):
    clients = toy_clients([30, 17, 25])  # unequal: the batched run pads and masks
    model = mlp()
    assert is_stackable(model) and not is_stackable(NotStackable())
    state = model.state_dict()
    options = dict(epochs=2, batch_size=4, lr=0.1, loss_fn=get_loss("cross_entropy"))
    stacked = train_stacked(
        model, state, clients, generators=[np.random.default_rng(k) for k in range(3)], **options
    )
    one_by_one = train_sequential(
        model, state, clients, generators=[np.random.default_rng(k) for k in range(3)], **options
    )
    for a, b in zip(stacked, one_by_one):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].shape == b[name].shape
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12)
        assert not np.allclose(a["0.weight"], state["0.weight"])  # the clients did train


def test_fedavg_draws_a_fraction_of_the_clients_each_round():
    clients = toy_clients([10] * 20)
    server = FedAvg(mlp(), clients, lr=0.1, fraction=0.25, local_epochs=1, local_batch_size=5)
    rounds = [server.run_round() for _ in range(3)]
    assert all(len(r) == 5 == len(set(r)) for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1
    assert FedAvg(mlp(), clients, lr=0.1, fraction=0.01).clients_per_round == 1


def test_fedavg_learns_and_stops_at_the_target():
    clients = toy_clients([40] * 10)
    test = toy_clients([400], seed=1)[0]
    server = FedAvg(mlp(), clients, lr=0.2, fraction=0.5, local_epochs=2, local_batch_size=10)
    history = server.fit(30, test_data=test, target=0.85)
    assert server.rounds_to_target is not None
    assert history["accuracy"][-1] >= 0.85
    assert history["round"][-1] == server.rounds_to_target == server.round


def test_iid_partition_gives_disjoint_equal_parts_covering_the_data():
    parts = iid_partition(103, 10, np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(103))
    assert {len(p) for p in parts} == {10, 11}


def test_pathological_non_iid_partition_gives_each_client_two_label_shards():
    labels = np.repeat(np.arange(10), 60)[np.random.default_rng(0).permutation(600)]
    parts = pathological_non_iid_partition(labels, 30, 2, np.random.default_rng(1))
    assert len(parts) == 30 and all(len(p) == 20 for p in parts)  # 60 shards of 10
    assert sorted(np.concatenate(parts).tolist()) == list(range(600))
    for part in parts:
        first, second = part[:10], part[10:]
        assert len(set(labels[first])) == 1 and len(set(labels[second])) == 1  # one label a shard
        assert len(set(labels[part])) <= 2
    assert np.mean([len(set(labels[p])) == 2 for p in parts]) > 0.5


def test_bad_federated_arguments_are_rejected():
    clients = toy_clients([5, 5])
    with pytest.raises(ArgumentError, match="fraction C must be in"):
        FedAvg(mlp(), clients, lr=0.1, fraction=0)
    with pytest.raises(ArgumentError, match="local_batch_size B"):
        FedAvg(mlp(), clients, lr=0.1, local_batch_size=0)
    with pytest.raises(ArgumentError, match="cannot cut 5 samples into 6"):
        pathological_non_iid_partition(np.zeros(5), 3, 2)


# ------------------------------------------------------------------ over MPI
def _mpiexec():
    beside_python = Path(sys.executable).with_name("mpiexec")
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def _mpi_missing():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py is not installed (pip install "chainrule[mpi]")'
    return None if _mpiexec() else 'no mpiexec on PATH (pip install "chainrule[mpi]")'


SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import chainrule as cr
    from chainrule import nn
    from chainrule.federated import FedAvg

    cr.set_default_float_dtype("float64")
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    clients = []
    for n in [12, 9, 15, 10, 7, 11]:
        x = rng.normal(size=(n, 5))
        clients.append((x, (x[:, 0] > 0).astype(np.int64)))
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    strategy = None if sys.argv[2] == "none" else "mpi"
    server = FedAvg(model, clients, lr=0.2, fraction=0.5, local_epochs=2, local_batch_size=4,
                    strategy=strategy)
    for _ in range(4):
        server.run_round()
    states = server.strategy.all_gather(model.state_dict())
    same = all(s[k].tobytes() == states[0][k].tobytes() for s in states for k in s)
    if server.strategy.is_writer:
        np.savez(sys.argv[1], same=same, **model.state_dict())
    """
)


@pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
def test_clients_spread_over_two_processes_give_the_one_process_model(tmp_path):
    script = tmp_path / "fed.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    for name, prefix in [("one", []), ("two", [_mpiexec(), "-n", "2"])]:
        done = subprocess.run(
            [
                *prefix,
                sys.executable,
                str(script),
                str(tmp_path / f"{name}.npz"),
                "none" if name == "one" else "mpi",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert bool(two["same"])
    for key in one.files:
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-12, err_msg=key)
