"""Splits for validation: train / validation / test, k-fold and stratified k-fold.

Built on scikit-learn's splitters (imported when first used: ``pip install
"chainrule[data]"``). Without a ``seed``, randomness comes from chainrule's generator,
so ``chainrule.manual_seed`` fixes the splits.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.backend import default_generator
from chainrule.checks import is_int
from chainrule.data._optional import require
from chainrule.errors import ArgumentError, ShapeError


def _random_state(seed: int | None) -> np.random.RandomState:
    """A RandomState for scikit-learn, seeded by ``seed`` or else by chainrule's generator."""
    if seed is None:
        seed = int(default_generator().integers(2**32))
    if not is_int(seed) or seed < 0:
        raise ArgumentError(f"seed must be a non-negative integer or None; got seed={seed!r}")
    return np.random.RandomState(int(seed))


def train_val_test_split(
    *arrays: npt.ArrayLike,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    stratify: npt.ArrayLike | None = None,
    seed: int | None = None,
) -> Any:
    """Shuffle and split arrays with the same first dimension into train / val / test.

    ``(x_tr, y_tr), (x_va, y_va), (x_te, y_te) = train_val_test_split(x, y)``; with one
    array, ``train, val, test``. Split sizes are ``round(ratio * N)`` for validation
    and test, the rest for training. ``stratify`` (labels, (N,)) keeps the class
    proportions in every part.
    """
    model_selection = require("sklearn.model_selection", "train_val_test_split")
    if not arrays:
        raise ArgumentError("train_val_test_split needs at least one array; got none")
    arrays = tuple(np.asarray(a) for a in arrays)
    n = _common_length(arrays, "train_val_test_split")
    if not isinstance(ratios, Sequence) or not all(
        isinstance(r, numbers.Real) and not isinstance(r, bool) for r in ratios
    ):
        raise ArgumentError(
            f"train_val_test_split: ratios must be three numbers (train, val, test); got {ratios!r}"
        )
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or ratios[0] <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise ArgumentError(
            "train_val_test_split: ratios must be three non-negative numbers (train, val, "
            f"test) with train > 0 that sum to 1; got ratios={ratios} (sum {sum(ratios):g})"
        )
    n_val, n_test = round(ratios[1] * n), round(ratios[2] * n)
    if n_val + n_test >= n:
        raise ArgumentError(
            f"train_val_test_split: ratios={ratios} of {n} samples leave no training samples"
        )
    labels = None if stratify is None else np.asarray(stratify)
    if labels is not None and labels.shape[:1] != (n,):
        raise ShapeError(
            f"train_val_test_split: stratify must hold one label per sample, shape ({n},); "
            f"got {labels.shape}"
        )
    random_state = _random_state(seed)
    rest = np.arange(n)
    parts = []
    for size in (n_test, n_val):
        if size == 0:
            parts.append(rest[:0])
            continue
        try:
            rest, part = model_selection.train_test_split(
                rest,
                test_size=size,
                stratify=None if labels is None else labels[rest],
                random_state=random_state,
            )
        except ValueError as error:  # scikit-learn's words on classes too small to stratify
            raise ArgumentError(
                f"train_val_test_split: cannot split by stratify: {error}"
            ) from None
        parts.append(part)
    splits = (rest, parts[1], parts[0])
    if len(arrays) == 1:
        return tuple(arrays[0][idx] for idx in splits)
    return tuple(tuple(a[idx] for a in arrays) for idx in splits)


class KFold:
    """k-fold cross-validation: ``split(x)`` yields (train_idx, val_idx) ``n_splits`` times.

    Each sample lands in exactly one validation fold. Works as ``cv=`` in scikit-learn.
    """

    _splitter = "KFold"

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: int | None = None) -> None:
        name = type(self).__name__
        if not is_int(n_splits) or n_splits < 2:
            raise ArgumentError(
                f"{name}: n_splits must be an integer >= 2; got n_splits={n_splits!r}"
            )
        if seed is not None and not shuffle:
            raise ArgumentError(f"{name}: seed={seed} only matters with shuffle=True")
        if seed is not None:
            _random_state(seed)  # checks the seed now, not at the first split
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.seed = seed

    def _sklearn_splitter(self) -> Any:
        model_selection = require("sklearn.model_selection", type(self).__name__)
        random_state = _random_state(self.seed) if self.shuffle else None
        return getattr(model_selection, self._splitter)(
            n_splits=self.n_splits, shuffle=self.shuffle, random_state=random_state
        )

    def split(
        self, x: npt.ArrayLike, y: npt.ArrayLike | None = None, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, val_idx) integer arrays; ``groups`` is ignored (scikit-learn's API)."""
        name = type(self).__name__
        if not hasattr(x, "__len__") or np.ndim(x) == 0:
            raise ShapeError(f"{name}.split: x must hold one row per sample; got {x!r:.60}")
        n = len(x)
        if n < self.n_splits:
            raise ArgumentError(f"{name}: n_splits={self.n_splits} is more than the {n} samples")
        try:
            yield from self._sklearn_splitter().split(np.zeros((n, 1)), y)
        except ValueError as error:  # scikit-learn's words on classes smaller than n_splits
            raise ArgumentError(
                f"{name}: cannot split y into n_splits={self.n_splits}: {error}"
            ) from None

    def get_n_splits(self, x: object = None, y: object = None, groups: object = None) -> int:
        return self.n_splits

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"


class StratifiedKFold(KFold):
    """k-fold with each validation fold keeping the class proportions of ``y``."""

    _splitter = "StratifiedKFold"

    def split(  # type: ignore[override]  # y is required: the folds follow its classes
        self, x: npt.ArrayLike, y: npt.ArrayLike, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, val_idx); y: (N,) class labels."""
        y = np.asarray(y)
        if not hasattr(x, "__len__") or np.ndim(x) == 0 or y.shape != (len(x),):
            raise ShapeError(
                f"StratifiedKFold: y must hold one label per sample, shape (N,) for N samples in x; "
                f"got {y.shape}"
            )
        yield from super().split(x, y)


def _common_length(arrays: Sequence[np.ndarray], name: str) -> int:
    lengths = tuple(len(a) if a.ndim else None for a in arrays)
    if None in lengths or len(set(lengths)) != 1:
        raise ShapeError(
            f"{name}: arrays must share their first dimension (one row per sample); "
            f"got lengths {lengths}"
        )
    return lengths[0]
