"""Datasets, the DataLoader, toy datasets and preprocessing."""

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    load_digits,
    make_blobs,
    make_spirals,
    make_xor,
    one_hot,
    scale_to_unit,
    standardize,
)
from chainrule.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError


def numbered(n=10):
    """x[i] = (i, 2i) as float32, y[i] = i as int64: each sample names itself."""
    x = np.stack([np.arange(n), 2 * np.arange(n)], axis=1).astype(np.float32)
    return TensorDataset(x, np.arange(n))


class Squares(Dataset):
    """A generic dataset without array indexing: sample i is (i * ones(3), i**2)."""

    def __init__(self, n):
        self.n = n
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.full(3, float(i)), i * i


def epoch_labels(loader):
    return np.concatenate([y.numpy() for _, y in loader])


# ------------------------------------------------------------------ datasets
def test_tensor_dataset_returns_one_sample_and_whole_batches():
    ds = numbered(10)
    x, y = ds[3]
    np.testing.assert_array_equal(x, [3, 6])
    assert y == 3
    xb, yb = ds[np.array([4, 1, 7])]
    np.testing.assert_array_equal(yb, [4, 1, 7])
    np.testing.assert_array_equal(xb[:, 1], [8, 2, 14])
    assert len(ds) == 10 and len(ds.arrays) == 2


def test_tensor_dataset_accepts_tensors():
    ds = TensorDataset(cr.randn(5, 3), cr.tensor(np.arange(5)))
    assert isinstance(ds.arrays[0], np.ndarray)
    assert ds.arrays[0].shape == (5, 3) and ds.arrays[1].dtype == np.int64


def test_tensor_dataset_rejects_unequal_lengths_naming_them():
    with pytest.raises(ShapeError, match=r"got lengths \(100, 99\)"):
        TensorDataset(np.zeros((100, 2)), np.zeros(99))


def test_tensor_dataset_rejects_scalars_and_no_arrays():
    with pytest.raises(ShapeError, match="scalar"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(ArgumentError, match="at least one array"):
        TensorDataset()


def test_subset_maps_indices_and_validates_them():
    sub = Subset(numbered(10), [9, 0, 5])
    assert len(sub) == 3
    assert sub[0][1] == 9
    np.testing.assert_array_equal(sub.get_batch(np.array([2, 1]))[1], [5, 0])
    with pytest.raises(ArgumentError, match=r"\[0, 10\).*from 0 to 10"):
        Subset(numbered(10), [0, 10])
    with pytest.raises(ArgumentTypeError, match="integers"):
        Subset(numbered(10), [0.5])


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


# ------------------------------------------------------------------ loader
def test_loader_yields_tensors_with_float32_inputs_and_int64_labels():
    x, y = next(
        iter(DataLoader(TensorDataset(np.random.default_rng(0).random((10, 3)), np.arange(10)), 4))
    )
    assert isinstance(x, cr.Tensor) and isinstance(y, cr.Tensor)
    assert x.dtype == cr.float32 and y.dtype == cr.int64
    assert x.shape == (4, 3) and y.shape == (4,)


def test_loader_in_order_without_shuffle_and_len_counts_batches():
    loader = DataLoader(numbered(10), batch_size=4)
    assert len(loader) == 3
    assert [len(y) for _, y in loader] == [4, 4, 2]
    np.testing.assert_array_equal(epoch_labels(loader), np.arange(10))


def test_shuffled_epochs_cover_every_sample_once_in_a_new_order():
    loader = DataLoader(numbered(50), batch_size=8, shuffle=True)
    first, second = epoch_labels(loader), epoch_labels(loader)
    np.testing.assert_array_equal(np.sort(first), np.arange(50))
    np.testing.assert_array_equal(np.sort(second), np.arange(50))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50))


def test_inputs_stay_with_their_labels_when_shuffled():
    for x, y in DataLoader(numbered(20), batch_size=6, shuffle=True):
        np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())


def test_manual_seed_reproduces_the_shuffle():
    loader = DataLoader(numbered(30), batch_size=7, shuffle=True)
    cr.manual_seed(123)
    a = epoch_labels(loader)
    cr.manual_seed(123)
    b = epoch_labels(loader)
    np.testing.assert_array_equal(a, b)


def test_own_generator_drives_the_shuffle():
    def run(seed):
        loader = DataLoader(numbered(30), 7, shuffle=True, generator=np.random.default_rng(seed))
        return epoch_labels(loader)

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_drop_last_drops_the_short_batch():
    loader = DataLoader(numbered(10), batch_size=4, shuffle=True, drop_last=True)
    assert len(loader) == 2
    sizes = [len(y) for _, y in loader]
    assert sizes == [4, 4]
    assert len(np.unique(epoch_labels(loader))) == 8


def test_transform_is_applied_to_the_batch_of_inputs_only():
    seen = []

    def negate(batch):
        seen.append(batch.shape)
        return -batch

    loader = DataLoader(numbered(10), batch_size=5, transform=negate)
    for x, y in loader:
        np.testing.assert_array_equal(x.numpy()[:, 0], -y.numpy())
    assert seen == [(5, 2), (5, 2)]


def test_array_datasets_are_gathered_in_one_call_per_batch():
    class Counting(TensorDataset):
        gathers = 0

        def get_batch(self, indices):
            Counting.gathers += 1
            return super().get_batch(indices)

    loader = DataLoader(Subset(Counting(np.zeros((20, 2)), np.arange(20)), np.arange(10)), 4)
    list(loader)
    assert Counting.gathers == len(loader) == 3


def test_generic_dataset_is_stacked_per_item():
    ds = Squares(7)
    batches = list(DataLoader(ds, batch_size=3))
    assert ds.calls == 7
    x, y = batches[0]
    assert x.shape == (3, 3) and x.dtype == cr.float32
    np.testing.assert_array_equal(y.numpy(), [0, 1, 4])


def test_loader_rejects_bad_batch_size_and_empty_dataset():
    with pytest.raises(ArgumentError, match="batch_size=0"):
        DataLoader(numbered(5), batch_size=0)
    with pytest.raises(ArgumentError, match=r"batch_size=2\.5"):
        DataLoader(numbered(5), batch_size=2.5)
    with pytest.raises(ArgumentError, match="empty dataset"):
        DataLoader(TensorDataset(np.zeros((0, 2))))
    with pytest.raises(ArgumentError, match="no batches"):
        DataLoader(numbered(5), batch_size=8, drop_last=True)


# ------------------------------------------------------------------ toy datasets
def test_xor_is_the_four_points():
    x, y = make_xor()
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0], x[:, 1]))


def test_spirals_have_two_balanced_classes_and_follow_the_seed():
    assert np.bincount(make_spirals(101)[1]).tolist() == [51, 50]
    x, _ = make_spirals(100, noise=0.0)
    assert x.shape == (100, 2) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x[[0, 49]], axis=1), [0, 1], atol=1e-6)
    # the two spirals are point reflections of each other
    np.testing.assert_allclose(x[50:], -x[:50], atol=1e-6)
    a = make_spirals(20, generator=np.random.default_rng(1))[0]
    b = make_spirals(20, generator=np.random.default_rng(1))[0]
    np.testing.assert_array_equal(a, b)


def test_blobs_cluster_around_their_centres():
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    x, y = make_blobs(1001, centers, std=0.5)
    assert x.shape == (1001, 3) and np.bincount(y).tolist() == [501, 500]
    for k in range(2):
        np.testing.assert_allclose(x[y == k].mean(axis=0), centers[k], atol=0.1)
        np.testing.assert_allclose(x[y == k].std(axis=0), 0.5, atol=0.1)
    x, y = make_blobs(30, centers=4)
    assert x.shape == (30, 2) and set(y.tolist()) == {0, 1, 2, 3}
    with pytest.raises(ArgumentError, match="one per blob"):
        make_blobs(10, centers, std=[1.0, 2.0, 3.0])


def test_load_digits_gives_8x8_float_images_in_unit_range():
    x, y = load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    assert set(np.unique(x * 16).tolist()) == set(range(17))  # the 17 grey levels, exactly
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*chainrule\[data\]"):
        load_digits()


def test_import_chainrule_does_not_import_scipy_or_sklearn():
    code = (
        "import sys, chainrule, chainrule.data, chainrule.model_selection\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('scipy', 'sklearn')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ preprocessing
def test_scale_to_unit_maps_the_range_to_zero_one():
    x = np.array([0, 51, 255], dtype=np.uint8)
    out = scale_to_unit(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0.2, 1])
    np.testing.assert_allclose(scale_to_unit([-1.0, 1.0], input_range=(-1, 1)), [0, 1])
    with pytest.raises(ArgumentError, match="high > low"):
        scale_to_unit(x, input_range=(1, 1))


def test_standardize_returns_statistics_to_reuse_on_test_data():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    train[:, 3] = 7.0  # a constant feature: std 0 must not divide by zero
    z, (mean, std) = standardize(train)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 3], 0)
    test = rng.normal(3.0, 2.0, size=(10, 4)).astype(np.float32)
    z_test, _ = standardize(test, mean, std)
    np.testing.assert_allclose(z_test, (test - mean) / std, rtol=1e-6)


def test_standardize_with_axis_none_uses_one_mean_and_std():
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    z, (mean, std) = standardize(x, axis=None)
    assert z.dtype == np.float32 and mean.size == 1 and std.size == 1
    assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-6


def test_one_hot_and_its_errors():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot(np.zeros((2, 5), dtype=np.int64), 4).shape == (2, 5, 4)
    with pytest.raises(ArgumentError, match=r"\[0, 3\); got values from 0 to 3"):
        one_hot([0, 3], 3)
    with pytest.raises(ArgumentError, match=r"from -1"):
        one_hot([-1, 2], 3)
    with pytest.raises(DTypeError, match="integers"):
        one_hot([0.0, 1.0], 3)
