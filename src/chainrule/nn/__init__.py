"""Layers and models: ``Module``, ``Parameter``, containers, layers, losses, ``init``."""

from chainrule.nn import init, utils
from chainrule.nn.container import ModuleList, Sequential
from chainrule.nn.flatten import Flatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.regularization import L1L2, MaxNorm, l1_penalty, l2_penalty, max_norm_
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "L1L2",
    "Flatten",
    "Identity",
    "Linear",
    "MaxNorm",
    "Module",
    "ModuleList",
    "Parameter",
    "Sequential",
    "clip_grad_norm_",
    "clip_grad_value_",
    "init",
    "l1_penalty",
    "l2_penalty",
    "max_norm_",
    "utils",
]
