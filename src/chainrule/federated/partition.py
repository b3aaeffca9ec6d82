"""Splitting a data set between clients: IID, and McMahan et al.'s pathological non-IID split."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chainrule.backend import default_generator
from chainrule.checks import is_int
from chainrule.errors import ArgumentError


def _check(num_samples: int, num_clients: int, pieces: int) -> None:
    if not is_int(num_clients) or num_clients < 1:
        raise ArgumentError(f"num_clients must be a positive integer; got {num_clients!r}")
    if num_samples < pieces:
        raise ArgumentError(
            f"cannot cut {num_samples} samples into {pieces} non-empty pieces for "
            f"{num_clients} clients"
        )


def iid_partition(
    num_samples: int, num_clients: int, generator: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Sample indices for each client: a random permutation cut into ``num_clients``
    parts of equal size (differing by at most one)."""
    _check(num_samples, num_clients, num_clients)
    order = (generator or default_generator()).permutation(num_samples)
    return np.array_split(order, num_clients)


def pathological_non_iid_partition(
    labels: npt.ArrayLike,
    num_clients: int,
    shards_per_client: int = 2,
    generator: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Sample indices for each client, McMahan et al. (2017): sort the data by label, cut
    it into ``num_clients * shards_per_client`` shards of equal size, and give each client
    ``shards_per_client`` shards at random, so most clients see only two digits."""
    labels = np.asarray(labels)
    if shards_per_client < 1:
        raise ArgumentError(f"shards_per_client must be at least 1; got {shards_per_client}")
    num_shards = num_clients * shards_per_client
    _check(len(labels), num_clients, num_shards)
    by_label = np.argsort(labels, kind="stable")
    shards = np.array_split(by_label, num_shards)
    picks = (generator or default_generator()).permutation(num_shards)
    return [
        np.concatenate(
            [shards[s] for s in picks[k * shards_per_client : (k + 1) * shards_per_client]]
        )
        for k in range(num_clients)
    ]
