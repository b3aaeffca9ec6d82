"""Datasets of the course: MNIST, scikit-learn's 8x8 digits, XOR, spirals, blobs, and a
covariate-shift problem whose density ratio is known.

Each returns NumPy arrays: inputs as float32 (MNIST: raw uint8) and labels as int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.backend import default_generator
from chainrule.checks import check_int, check_number, is_number
from chainrule.data._optional import require
from chainrule.data.mnist import load_mnist
from chainrule.errors import ArgumentError, ShapeError

__all__ = [
    "load_digits",
    "load_mnist",
    "make_blobs",
    "make_covariate_shift",
    "make_spirals",
    "make_xor",
]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits: x (1797, 8, 8) float32 in [0, 1], y (1797,) int64.

    The pixels, stored as counts 0-16, are divided by 16, as MNIST's by 255 in
    ``load_mnist``-based experiments: a plain SGD loop on raw counts diverges silently.
    Needs scikit-learn (``pip install "chainrule[data]"``); the data ships with it.
    """
    datasets = require("sklearn.datasets", "load_digits")
    digits = datasets.load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def make_xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: x (4, 2) float32 in {0, 1}, y (4,) int64 = x0 xor x1."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return x, y


def make_spirals(
    n_samples: int = 200,
    noise: float = 0.05,
    n_turns: float = 1.0,
    generator: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals: x (n_samples, 2) float32, y (n_samples,) int64 in {0, 1}.

    Spiral k is r (cos t, sin t) with r from 0 to 1, t = 2 pi n_turns r + k pi, plus
    Gaussian noise of std ``noise``; samples come ordered by class (k = 0 first).
    """
    n_samples = check_int(n_samples, "n_samples", "make_spirals", minimum=2)
    noise = check_number(noise, "noise", "make_spirals")
    n_turns = check_number(n_turns, "n_turns", "make_spirals")
    if noise < 0:
        raise ArgumentError(f"make_spirals: noise must be >= 0; got noise={noise}")
    if n_turns <= 0:
        raise ArgumentError(f"make_spirals: n_turns must be > 0; got n_turns={n_turns}")
    generator = generator if generator is not None else default_generator()
    counts = (n_samples - n_samples // 2, n_samples // 2)
    y = np.repeat(np.array([0, 1], dtype=np.int64), counts)
    r = np.concatenate([np.linspace(0.0, 1.0, count) for count in counts])
    t = 2.0 * np.pi * n_turns * r + np.pi * y
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    x += noise * generator.standard_normal(x.shape)
    return x.astype(np.float32), y


def make_blobs(
    n_samples: int = 300,
    centers: int | Any = 3,
    std: float | Any = 1.0,
    generator: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: x (n_samples, D) float32, y (n_samples,) int64 = index of the blob.

    ``centers`` is a count (2-d centres drawn uniformly from [-10, 10]^2) or a (K, D)
    array; ``std`` is one standard deviation or one per blob. Samples come ordered by
    blob, as evenly spread over the blobs as ``n_samples`` allows.
    """
    n_samples = check_int(n_samples, "n_samples", "make_blobs", minimum=1)
    generator = generator if generator is not None else default_generator()
    if isinstance(centers, int | np.integer) and not isinstance(centers, bool):
        check_int(int(centers), "centers", "make_blobs", minimum=1)
        centers = generator.uniform(-10.0, 10.0, size=(int(centers), 2))
    try:
        centers = np.asarray(centers, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(
            f"make_blobs: centers must be a count or a (K, D) array; got {centers!r}"
        ) from None
    if centers.ndim != 2 or len(centers) == 0:
        raise ShapeError(
            f"make_blobs: centers must be a count or an array of shape (K, D); "
            f"got shape {centers.shape}"
        )
    k = len(centers)
    if not (is_number(std) or isinstance(std, Sequence | np.ndarray)):
        raise ArgumentError(f"make_blobs: std must be a number or one per blob; got std={std!r}")
    try:
        std = np.asarray(std, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentError(f"make_blobs: std must be numbers; got std={std!r}") from None
    if (
        std.ndim > 1
        or (std.ndim == 1 and len(std) != k)
        or not np.all(np.isfinite(std) & (std >= 0))
    ):
        raise ArgumentError(
            f"make_blobs: std must be one non-negative number or {k} of them (one per blob); "
            f"got {std.tolist()}"
        )
    counts = n_samples // k + (np.arange(k) < n_samples % k)
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    scale = np.broadcast_to(std, (k,))[y, None]
    x = centers[y] + scale * generator.standard_normal((n_samples, centers.shape[1]))
    return x.astype(np.float32), y


def make_covariate_shift(
    n_train: int = 500,
    n_test: int = 500,
    shift: float = 1.0,
    noise: float = 0.3,
    generator: np.random.Generator | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], Any]:
    """Training and test sets whose inputs come from different distributions, p(y | x) shared.

    x ~ N(mu, I) in 2-d with mu = (-shift/2, 0) for training and (+shift/2, 0) for test;
    y = 1 if x_2 > x_1^2 - 1 + e, e ~ N(0, noise^2): a parabola, which a linear model can
    only follow locally. Returns ((x_train, y_train), (x_test, y_test), density_ratio):
    x (n, 2) float32, y (n,) int64, and density_ratio(x) = p_test(x) / p_train(x) =
    exp(shift x_1), exactly.
    """
    n_train = check_int(n_train, "n_train", "make_covariate_shift", minimum=1)
    n_test = check_int(n_test, "n_test", "make_covariate_shift", minimum=1)
    shift = check_number(shift, "shift", "make_covariate_shift")
    noise = check_number(noise, "noise", "make_covariate_shift")
    if noise < 0:
        raise ArgumentError(f"make_covariate_shift: noise must be >= 0; got noise={noise}")
    generator = generator if generator is not None else default_generator()

    def draw(n: int, centre: float) -> tuple[np.ndarray, np.ndarray]:
        x = generator.standard_normal((n, 2)) + np.array([centre, 0.0])
        y = x[:, 1] > x[:, 0] ** 2 - 1 + noise * generator.standard_normal(n)
        return x.astype(np.float32), y.astype(np.int64)

    def density_ratio(x: Any) -> np.ndarray:
        """p_test(x) / p_train(x) for inputs x (n, 2)."""
        return np.exp(shift * np.asarray(x, dtype=np.float64)[:, 0])

    return draw(n_train, -shift / 2), draw(n_test, shift / 2), density_ratio
