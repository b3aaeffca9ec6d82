"""FedAvg and FedSGD (McMahan et al. 2017): the server side of federated averaging."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.backend import new_generator
from chainrule.checks import is_int
from chainrule.errors import ArgumentError, DataError
from chainrule.federated.client import Client, stacked_or_sequential
from chainrule.nn.loss import get_loss
from chainrule.nn.module import Module
from chainrule.train.evaluation import evaluate
from chainrule.train.strategy import Strategy, get_strategy


def weighted_sum(states: Sequence[Mapping[str, Any]], weights: Sequence[float]) -> dict[str, Any]:
    """sum_k weights[k] * states[k], entry by entry, in float64."""
    if len(states) != len(weights) or not states:
        raise ArgumentError(
            f"weighted_sum needs one weight per state and at least one state; got "
            f"{len(states)} states and {len(weights)} weights"
        )
    return {
        name: sum(float(w) * _float64(s[name]) for s, w in zip(states, weights))
        for name in states[0]
    }


def _float64(value: Any) -> Any:
    """``value`` in float64 where it is: host or device arrays stay (np.asarray would refuse
    a CuPy array), anything else becomes a NumPy array."""
    return value.astype(np.float64) if hasattr(value, "astype") else np.asarray(value, np.float64)


def weighted_average(
    states: Sequence[Mapping[str, Any]], weights: Sequence[float]
) -> dict[str, np.ndarray]:
    """sum_k w_k s_k / sum_k w_k, each entry in the first state's dtype: the server's
    average of client models with w_k = n_k, the client's number of samples."""
    total = float(sum(weights))
    if not total > 0:
        raise ArgumentError(
            f"weighted_average: the weights must sum to a positive number; got {total}"
        )
    summed = weighted_sum(states, weights)
    dtypes = {
        k: v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype for k, v in states[0].items()
    }
    return {k: (v / total).astype(dtypes[k]) for k, v in summed.items()}


class FedAvg:
    """Federated averaging, McMahan et al. (2017), algorithm 1.

    ``clients`` holds each client's own data, (x, y) host arrays. Each round the server
    picks m = max(round(fraction * K), 1) of the K clients at random; each runs
    ``local_epochs`` (E) epochs of plain SGD with step ``lr`` over its data in batches
    of ``local_batch_size`` (B; None is the paper's B = inf, the whole local data set),
    starting from the global model; the global model becomes the average of theirs
    weighted by their sample counts n_k. With ``strategy="mpi"`` the selected clients
    are shared out over the processes of an mpiexec job; every process ends each round
    with the same global model. ``seed`` fixes the client draws and local shuffles.
    """

    def __init__(
        self,
        model: Module,
        clients: Sequence[Client],
        *,
        lr: float,
        fraction: float = 0.1,
        local_epochs: int = 1,
        local_batch_size: int | None = 10,
        loss: str | Callable[..., Any] = "cross_entropy",
        seed: int = 0,
        strategy: Strategy | str | None = None,
    ) -> None:
        if not clients:
            raise DataError("FedAvg needs at least one client")
        if any(len(x) == 0 or len(x) != len(y) for x, y in clients):
            raise DataError("every client needs a non-empty (x, y) pair of equal lengths")
        if not 0 < fraction <= 1:
            raise ArgumentError(f"FedAvg: fraction C must be in (0, 1]; got {fraction}")
        if not lr > 0:
            raise ArgumentError(f"FedAvg: lr must be positive; got {lr}")
        if not is_int(local_epochs) or local_epochs < 1:
            raise ArgumentError(
                f"FedAvg: local_epochs E must be a positive integer; got {local_epochs!r}"
            )
        if local_batch_size is not None and (
            not isinstance(local_batch_size, int) or local_batch_size < 1
        ):
            raise ArgumentError(
                f"FedAvg: local_batch_size B must be a positive integer or None (B = inf); "
                f"got {local_batch_size!r}"
            )
        self.model = model
        self.clients = list(clients)
        self.lr = float(lr)
        self.fraction = fraction
        self.local_epochs = local_epochs
        self.local_batch_size = local_batch_size
        self.loss = loss
        self.loss_fn = get_loss(loss)
        self.seed = seed
        self.strategy = get_strategy(strategy)
        self.generator = new_generator(seed)
        self.round = 0
        self.history: dict[str, list[float]] = {"round": [], "loss": [], "accuracy": []}
        self.rounds_to_target: int | None = None
        self.strategy.setup(model)

    @property
    def clients_per_round(self) -> int:
        return max(round(self.fraction * len(self.clients)), 1)

    def run_round(self) -> list[int]:
        """One round of communication; returns the clients that took part."""
        selected = sorted(
            int(k)
            for k in self.generator.choice(len(self.clients), self.clients_per_round, replace=False)
        )
        mine = selected[self.strategy.rank :: self.strategy.world_size]
        state = self.model.state_dict()
        partial = None
        if mine:
            train = stacked_or_sequential(self.model)
            client_states = train(
                self.model,
                state,
                [self.clients[k] for k in mine],
                epochs=self.local_epochs,
                batch_size=self.local_batch_size,
                lr=self.lr,
                loss_fn=self.loss_fn,
                generators=[new_generator([self.seed, self.round, k]) for k in mine],
            )
            sizes = [len(self.clients[k][0]) for k in mine]
            partial = (weighted_sum(client_states, sizes), sum(sizes))
        parts = [p for p in self.strategy.all_gather(partial) if p is not None]
        total = sum(n for _, n in parts)
        average = {
            name: (sum(s[name] for s, _ in parts) / total).astype(state[name].dtype)
            for name in parts[0][0]
        }
        self.model.load_state_dict(average)
        self.round += 1
        return selected

    def fit(
        self,
        rounds: int,
        *,
        test_data: Any = None,
        target: float | None = None,
        eval_every: int = 1,
        callback: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, list[float]]:
        """Run up to ``rounds`` rounds, measuring test accuracy every ``eval_every`` rounds;
        stop when it reaches ``target`` (``rounds_to_target`` records the round)."""
        if target is not None and test_data is None:
            raise ArgumentError("FedAvg.fit: a target accuracy needs test_data")
        for _ in range(rounds):
            self.run_round()
            if test_data is None or self.round % eval_every:
                continue
            logs = evaluate(self.model, test_data, loss=self.loss, metrics=("accuracy",))
            self.history["round"].append(self.round)
            self.history["loss"].append(logs["loss"])
            self.history["accuracy"].append(logs["accuracy"])
            if callback is not None:
                callback(self.round, logs)
            if target is not None and logs["accuracy"] >= target:
                self.rounds_to_target = self.round
                break
        return self.history


class FedSGD(FedAvg):
    """Federated SGD: FedAvg with E = 1 and B = inf, so each selected client computes one
    full-batch gradient and the server takes one step with their n_k-weighted mean."""

    def __init__(
        self,
        model: Module,
        clients: Sequence[Client],
        *,
        lr: float,
        fraction: float = 0.1,
        loss: str | Callable[..., Any] = "cross_entropy",
        seed: int = 0,
        strategy: Strategy | str | None = None,
    ) -> None:
        super().__init__(
            model,
            clients,
            lr=lr,
            fraction=fraction,
            local_epochs=1,
            local_batch_size=None,
            loss=loss,
            seed=seed,
            strategy=strategy,
        )
