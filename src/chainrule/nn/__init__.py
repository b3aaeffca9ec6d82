"""Layers and models: ``Module``, ``Parameter``, containers, layers, losses, ``init``."""

from chainrule.nn import init
from chainrule.nn.container import ModuleList, Sequential
from chainrule.nn.conv import Conv2d
from chainrule.nn.flatten import Flatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.pooling import AvgPool2d, LPPool2d, MaxPool2d

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Flatten",
    "Identity",
    "LPPool2d",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "Parameter",
    "Sequential",
    "init",
]
