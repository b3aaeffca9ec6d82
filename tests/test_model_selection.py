"""Splits: train / validation / test, k-fold and stratified k-fold."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ShapeError
from chainrule.model_selection import KFold, StratifiedKFold, train_val_test_split


def data(n=100):
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    y = np.arange(n) % 4
    return x, y


def test_split_sizes_follow_the_ratios_and_parts_are_disjoint():
    x, y = data(100)
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = train_val_test_split(x, y, ratios=(0.7, 0.2, 0.1))
    assert (len(x_tr), len(x_va), len(x_te)) == (70, 20, 10)
    ids = [part[:, 0].astype(int) for part in (x_tr, x_va, x_te)]
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), np.arange(100))
    for part_x, part_y in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te)):
        np.testing.assert_array_equal(part_x[:, 0].astype(int) % 4, part_y)


def test_default_ratios_and_single_array():
    train, val, test = train_val_test_split(np.arange(50))
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    assert len(set(train) | set(val) | set(test)) == 50


def test_zero_ratio_gives_an_empty_part():
    x, y = data(40)
    (x_tr, _), (x_va, _), (x_te, _) = train_val_test_split(x, y, ratios=(0.75, 0.25, 0.0))
    assert (len(x_tr), len(x_va), len(x_te)) == (30, 10, 0)


def test_stratified_split_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    x = np.arange(1000)
    (_, y_tr), (_, y_va), (_, y_te) = train_val_test_split(x, y, stratify=y, seed=0)
    for part in (y_tr, y_va, y_te):
        np.testing.assert_allclose(np.bincount(part) / len(part), [0.5, 0.3, 0.2], atol=0.01)


def test_seed_and_manual_seed_make_splits_reproducible():
    x, y = data(60)
    a = train_val_test_split(x, y, seed=3)[1][1]
    b = train_val_test_split(x, y, seed=3)[1][1]
    np.testing.assert_array_equal(a, b)
    cr.manual_seed(5)
    c = train_val_test_split(x, y)[0][0]
    cr.manual_seed(5)
    d = train_val_test_split(x, y)[0][0]
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, train_val_test_split(x, y)[0][0])


def test_split_rejects_bad_ratios_and_lengths():
    x, y = data(20)
    with pytest.raises(ArgumentError, match=r"sum to 1; got ratios=\(0.8, 0.1, 0.2\)"):
        train_val_test_split(x, y, ratios=(0.8, 0.1, 0.2))
    with pytest.raises(ArgumentError, match="three"):
        train_val_test_split(x, y, ratios=(0.8, 0.2))
    with pytest.raises(ShapeError, match=r"lengths \(20, 19\)"):
        train_val_test_split(x, y[:19])
    with pytest.raises(ShapeError, match="stratify"):
        train_val_test_split(x, y, stratify=y[:5])


def test_kfold_puts_every_sample_in_exactly_one_validation_fold():
    folds = list(KFold(5).split(np.zeros((23, 2))))
    assert len(folds) == 5
    val = np.concatenate([v for _, v in folds])
    np.testing.assert_array_equal(np.sort(val), np.arange(23))
    for train, v in folds:
        assert len(np.intersect1d(train, v)) == 0 and len(train) + len(v) == 23


def test_shuffled_kfold_follows_the_seed():
    first = [v for _, v in KFold(4, shuffle=True, seed=1).split(np.zeros(20))]
    again = [v for _, v in KFold(4, shuffle=True, seed=1).split(np.zeros(20))]
    in_order = [v for _, v in KFold(4).split(np.zeros(20))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, in_order))


def test_stratified_kfold_keeps_class_proportions_in_each_fold():
    y = np.repeat([0, 1], [80, 20])
    splitter = StratifiedKFold(5, shuffle=True, seed=0)
    seen = []
    for train, val in splitter.split(np.zeros(100), y):
        assert np.bincount(y[val]).tolist() == [16, 4]
        assert np.bincount(y[train]).tolist() == [64, 16]
        seen.append(val)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(100))


def test_kfold_works_as_cv_in_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = np.random.default_rng(0).normal(size=(60, 2))
    y = (x[:, 0] > 0).astype(int)
    scores = cross_val_score(LogisticRegression(), x, y, cv=StratifiedKFold(3))
    assert len(scores) == 3 and scores.min() > 0.8


def test_kfold_rejects_bad_arguments():
    with pytest.raises(ArgumentError, match="n_splits=1"):
        KFold(1)
    with pytest.raises(ArgumentError, match="shuffle=True"):
        KFold(3, seed=0)
    with pytest.raises(ArgumentError, match="more than the 3 samples"):
        list(KFold(5).split(np.zeros(3)))
    with pytest.raises(ShapeError, match="one label per sample"):
        list(StratifiedKFold(2).split(np.zeros(10), np.zeros(9)))
