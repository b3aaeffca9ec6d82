"""``Ensemble``: trained models that predict together, by averaged probabilities or a vote."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

# Host NumPy on purpose: combine() works on predicted probabilities, which predict()
# returns on the host; the Module's forward goes through chainrule's ops.
import numpy as np
import numpy.typing as npt

from chainrule import functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.nn.container import ModuleList
from chainrule.nn.module import Module
from chainrule.train.data_adapter import check_arrays
from chainrule.train.evaluation import predict_proba

METHODS = ("average", "vote")


def _as_classes(proba: np.ndarray) -> np.ndarray:
    """(N, C) class probabilities; a binary model's (N,) or (N, 1) p becomes [1 - p, p]."""
    if proba.ndim == 2 and proba.shape[1] > 1:
        return proba
    p = proba.reshape(len(proba))
    return np.stack([1 - p, p], axis=1)


def combine(member_proba: np.ndarray, method: str = "average") -> np.ndarray:
    """Ensemble classes (N,) from members' class probabilities (M, N, C).

    "average": argmax of the mean probabilities. "vote": the class most members predict
    (their argmax); a tie goes to the tied class with the highest mean probability.
    """
    if method not in METHODS:
        raise ArgumentError(f"method must be 'average' or 'vote'; got method={method!r}")
    mean = member_proba.mean(axis=0)
    if method == "average":
        return mean.argmax(axis=1)
    labels = member_proba.argmax(axis=2)  # (M, N)
    votes = (labels[..., None] == np.arange(member_proba.shape[2])).sum(axis=0)  # (N, C)
    tied = votes == votes.max(axis=1, keepdims=True)
    return np.where(tied, mean, -np.inf).argmax(axis=1)


class Ensemble(Module):
    """Trained classifiers that predict together: ``Ensemble([model_a, model_b, model_c])``.

    A Module, so it goes wherever a model does (``train.predict``, ``train.evaluate``,
    ``eval()``, ``state_dict()``): its output is log of the members' mean class
    probabilities, which softmax (sigmoid for one output) turns back into them.
    """

    def __init__(self, members: Sequence[Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ArgumentError("Ensemble needs at least one member; got none")
        for i, member in enumerate(members):
            if not isinstance(member, Module):
                raise ArgumentTypeError(
                    f"Ensemble member {i} must be a chainrule.nn.Module; got {type(member).__name__}"
                )
        self.members = ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        """x (N, ...) -> (N, C) log mean probability; a one-output member's (N,) or (N, 1)
        gives the log-odds of the mean probability, of that shape."""
        outputs = [member(x) for member in self.members]
        count = math.log(len(outputs))
        if outputs[0].ndim == 2 and outputs[0].shape[1] > 1:
            log_p = F.stack([F.log_softmax(o, axis=1) for o in outputs])  # (M, N, C)
            return F.logsumexp(log_p, axis=0) - count  # log (1/M) sum_m p_m, without underflow
        log_p = F.stack([-F.softplus(-o) for o in outputs])  # log sigmoid(o), finite
        log_q = F.stack([-F.softplus(o) for o in outputs])  # log (1 - sigmoid(o))
        return F.logsumexp(log_p, axis=0) - F.logsumexp(log_q, axis=0)

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.members)

    def __getitem__(self, index: int) -> Module:
        return self.members[index]

    def member_proba(self, x: npt.ArrayLike, batch_size: int = 256) -> np.ndarray:
        """Each member's class probabilities: x (N, ...) -> (M, N, C), in eval mode."""
        probas = [_as_classes(predict_proba(member, x, batch_size)) for member in self.members]
        shapes = [p.shape for p in probas]
        if len(set(shapes)) > 1:
            raise ShapeError(
                f"Ensemble members must give probabilities of one shape; got {shapes} "
                "(members 0, 1, ...)"
            )
        return np.stack(probas)

    def predict_proba(self, x: npt.ArrayLike, batch_size: int = 256) -> np.ndarray:
        """The members' softmax probabilities averaged: x (N, ...) -> (N, C)."""
        return self.member_proba(x, batch_size).mean(axis=0)

    def predict(
        self, x: npt.ArrayLike, method: str = "average", batch_size: int = 256
    ) -> np.ndarray:
        """Classes (N,) by averaged probabilities or by majority vote (see ``combine``)."""
        if method not in METHODS:
            raise ArgumentError(f"method must be 'average' or 'vote'; got method={method!r}")
        return combine(self.member_proba(x, batch_size), method)

    def evaluate(
        self, x: npt.ArrayLike, y: npt.ArrayLike, batch_size: int = 256
    ) -> dict[str, float]:
        """Accuracies: each member's (``members``), their mean and best, and the ensemble's
        by ``average`` and by ``vote``; y: (N,) classes or (N, C) one-hot."""
        x, y = check_arrays(x, y, "evaluation")
        targets = y.argmax(axis=1) if y.ndim == 2 else y.reshape(len(y)).astype(np.int64)
        probas = self.member_proba(x, batch_size)
        members = [float((p.argmax(axis=1) == targets).mean()) for p in probas]
        return {
            "members": members,
            "mean_member": float(np.mean(members)),
            "best_member": max(members),
            "average": float((combine(probas, "average") == targets).mean()),
            "vote": float((combine(probas, "vote") == targets).mean()),
        }

    def __repr__(self) -> str:
        kinds = sorted({type(m).__name__ for m in self.members})
        return f"Ensemble({len(self.members)} members: {', '.join(kinds)})"
