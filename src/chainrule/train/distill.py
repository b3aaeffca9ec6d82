"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a small, fast student learns from a
large teacher's (or an ensemble's) softened class probabilities as well as the labels.

    distiller = Distiller(student, teacher, temperature=4, alpha=0.9)
    fit(distiller, (x, y), loss=distiller.loss, epochs=5)   # then use distiller.student

The teacher is held, not registered: it is not optimised, and the Distiller's
state_dict is the student's own (same keys), so checkpoints load into the bare student.
The teacher sees every training batch as the student does (augmented images included).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.nn.module import LoadResult, Module
from chainrule.ops.loss import cross_entropy, distillation_loss, soft_targets
from chainrule.ops.shape import stack


class Distiller(Module):
    """x (N, ...) -> the student's logits (N, C); in training it also keeps the teacher's
    soft targets softmax(z / T) for the batch (an ensemble's: the members' mean), which
    ``loss`` mixes with the labels: alpha T^2 CE(soft) + (1 - alpha) CE(hard).

    ``teacher``: a Module or a sequence of Modules (an ensemble), put in eval mode. Out
    of training mode (validation, test) ``loss`` is the plain cross-entropy.
    """

    teachers: list[Module]

    def __init__(
        self,
        student: Module,
        teacher: Module | Sequence[Module],
        temperature: float = 4.0,
        alpha: float = 0.9,
    ) -> None:
        super().__init__()
        teachers = [teacher] if isinstance(teacher, Module) else list(teacher)
        if not isinstance(student, Module):
            raise ArgumentTypeError(
                f"Distiller: student must be a Module; got {type(student).__name__}"
            )
        if not teachers or not all(isinstance(t, Module) for t in teachers):
            raise ArgumentTypeError(
                "Distiller: teacher must be a Module or a non-empty sequence of Modules; "
                f"got {teacher!r:.80}"
            )
        if not (isinstance(temperature, int | float) and temperature > 0):
            raise ArgumentError(
                f"Distiller: temperature must be a positive number; got {temperature!r}"
            )
        if not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
            raise ArgumentError(f"Distiller: alpha must be a number in [0, 1]; got {alpha!r}")
        self.student = student
        for t in teachers:
            t.eval()
        # NOTE: object.__setattr__, so the teachers stay out of parameters() and state_dict()
        object.__setattr__(self, "teachers", teachers)
        self.temperature, self.alpha = float(temperature), float(alpha)
        self._soft: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        out = self.student(x)
        if self.training:
            with no_grad():
                logits = stack([t(x) for t in self.teachers])  # (M, N, C)
                self._soft = soft_targets(logits, self.temperature)
        else:
            self._soft = None
        return out

    def loss(self, outputs: Tensor, target: Tensor) -> Tensor:
        """The distillation loss of the batch just forwarded (cross-entropy outside training)."""
        if self._soft is None:
            return cross_entropy(outputs, target)
        return distillation_loss(outputs, self._soft, target, self.temperature, self.alpha)

    def state_dict(self) -> OrderedDict[str, backend.HostArray]:
        """The student's state_dict (its own keys, no ``student.`` prefix)."""
        return self.student.state_dict()

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        return self.student.load_state_dict(state, strict)

    def extra_repr(self) -> str:
        return f"teachers={len(self.teachers)}, temperature={self.temperature}, alpha={self.alpha}"
