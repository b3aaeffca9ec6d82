"""The playground's 2-D classification sets (circle, XOR, Gaussian clusters, spiral) and
the derived input features (x1^2, x1*x2, sin x1, ...).

Points lie in about [-6, 6]^2 and labels are 0 or 1. The sets follow the generators of
the TensorFlow playground the lectures use: ``noise`` is a fraction (the lecture's
"noise = 50" is 0.5). The Gaussian clusters are ``make_blobs`` and the spiral is
``make_spirals``, scaled to the plane.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from chainrule.checks import is_int, is_number
from chainrule.data.datasets import make_blobs, make_spirals
from chainrule.errors import ArgumentError

RADIUS = 5.0  # the sets fill a disk or square of this radius; the plane drawn is [-6, 6]^2

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half the points in the disk r < R/2, half in the ring 0.7 R < r < R; a point's
    label is whether it lies in the disk once moved by uniform noise of +-noise R."""
    inner = np.arange(n) < n - n // 2
    r = np.where(inner, rng.uniform(0.0, 0.5 * RADIUS, n), rng.uniform(0.7 * RADIUS, RADIUS, n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    x = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    moved = x + rng.uniform(-RADIUS, RADIUS, x.shape) * noise
    return x, (np.hypot(moved[:, 0], moved[:, 1]) < 0.5 * RADIUS).astype(np.int64)


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform in the square, kept 0.3 off the axes; label 1 where x1 x2 >= 0 (after noise)."""
    x = rng.uniform(-RADIUS, RADIUS, (n, 2))
    x += np.where(x > 0, 0.3, -0.3)
    moved = x + rng.uniform(-RADIUS, RADIUS, x.shape) * noise
    return x, (moved[:, 0] * moved[:, 1] >= 0).astype(np.int64)


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters at (-2, -2) (label 0) and (2, 2) (label 1), variance 0.5 + 7 noise."""
    std = float(np.sqrt(0.5 + 7.0 * noise))
    x, y = make_blobs(n, centers=[[-2.0, -2.0], [2.0, 2.0]], std=std, generator=rng)
    return x.astype(np.float64), y


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of radius R; Gaussian noise of std noise (plane units)."""
    x, y = make_spirals(n, noise=noise / RADIUS, n_turns=0.875, generator=rng)
    return RADIUS * x.astype(np.float64), y


PLANE_SETS: dict[str, Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]]
PLANE_SETS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}


def make_plane(
    name: str,
    n_samples: int = 500,
    noise: float = 0.0,
    generator: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One of ``PLANE_SETS``: x (n_samples, 2) float32, y (n_samples,) int64 in {0, 1}."""
    if name not in PLANE_SETS:
        raise ArgumentError(f"make_plane: unknown set {name!r}; expected one of {list(PLANE_SETS)}")
    if not is_int(n_samples) or n_samples < 2:
        raise ArgumentError(f"make_plane: n_samples must be an integer >= 2; got {n_samples!r}")
    if not is_number(noise) or not 0 <= noise <= 1:
        raise ArgumentError(f"make_plane: noise must be a fraction in [0, 1]; got {noise!r}")
    rng = generator if generator is not None else np.random.default_rng()
    x, y = PLANE_SETS[name](int(n_samples), float(noise), rng)
    return x.astype(np.float32), y


def load_plane(
    name: str,
    n_samples: int = 500,
    noise: float = 0.0,
    train_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)): ``make_plane`` drawn with
    ``numpy.random.default_rng(seed)``, shuffled, the first ``train_fraction`` for training."""
    if not is_number(train_fraction):
        raise ArgumentError(f"load_plane: train_fraction must be a number; got {train_fraction!r}")
    rng = np.random.default_rng(seed)
    x, y = make_plane(name, n_samples, noise, rng)
    cut = round(train_fraction * len(x))
    if not 1 <= cut < len(x):
        raise ArgumentError(
            f"load_plane: train_fraction={train_fraction} of {len(x)} samples leaves "
            f"{cut} for training and {len(x) - cut} for test; both need at least one"
        )
    order = rng.permutation(len(x))
    train, test = order[:cut], order[cut:]
    return (x[train], y[train]), (x[test], y[test])


def plane_features(x: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """The named ``FEATURES`` of points x (N, 2): (N, len(features)) float32, in that order."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ArgumentError(f"plane_features: x must have shape (N, 2); got {x.shape}")
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ArgumentError(
            f"plane_features: features must be a non-empty list from {list(FEATURES)}; "
            f"got {list(features)!r}"
        )
    x1, x2 = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    return np.stack([FEATURES[f](x1, x2) for f in features], axis=1).astype(np.float32)
