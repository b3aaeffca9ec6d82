"""Layers and models: ``Module``, ``Parameter``, containers, layers, losses, ``init``."""

from chainrule.nn import init
from chainrule.nn.container import ModuleList, Sequential
from chainrule.nn.flatten import Flatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = [
    "Flatten",
    "Identity",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "Sequential",
    "init",
]
