"""The graph: ``Tensor``, ``Function`` (one node), ``backward``, ``grad``, ``no_grad``,
``gradcheck``, ``gradgradcheck``, ``detect_anomaly``, ``functional``."""

from chainrule.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from chainrule.autograd.engine import grad
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.autograd.hooks import RemovableHandle
from chainrule.autograd.tensor import Tensor

from chainrule.autograd.creation import (  # isort: skip  (needs Tensor first)
    arange,
    eye,
    from_numpy,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.autograd.gradcheck import GradcheckResult, gradcheck, gradgradcheck  # isort: skip
from chainrule.autograd import functional  # isort: skip

__all__ = [
    "Function",
    "GradcheckResult",
    "RemovableHandle",
    "Tensor",
    "arange",
    "detect_anomaly",
    "enable_grad",
    "eye",
    "from_numpy",
    "full",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "linspace",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "set_detect_anomaly",
    "set_grad_enabled",
    "tensor",
    "zeros",
    "zeros_like",
]
