"""Layers and models: ``Module``, ``Parameter``, containers, layers, losses, ``init``."""

from chainrule.nn import init, utils
from chainrule.nn.activation import (
    ACTIVATIONS,
    ELU,
    GELU,
    RBF,
    AbsRectify,
    Activation,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    Maxout,
    MaxoutLinear,
    PReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from chainrule.nn.autoencoder import Autoencoder, reconstruction_loss
from chainrule.nn.container import ModuleList, Sequential
from chainrule.nn.conv import Conv2d
from chainrule.nn.describe import register_module
from chainrule.nn.dropout import Dropout
from chainrule.nn.flatten import Flatten
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.loss import (
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    get_loss,
)
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d
from chainrule.nn.parameter import Parameter
from chainrule.nn.pooling import AvgPool2d, LPPool2d, MaxPool2d
from chainrule.nn.registry import register_layer
from chainrule.nn.regularization import (
    L1L2,
    MaxNorm,
    l1_penalty,
    l1_prox_,
    l2_penalty,
    max_norm_,
)
from chainrule.nn.residual import Residual
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "L1L2",
    "LOSSES",
    "RBF",
    "AbsRectify",
    "Activation",
    "Autoencoder",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "Hardtanh",
    "Identity",
    "L1Loss",
    "LPPool2d",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxNorm",
    "MaxPool2d",
    "Maxout",
    "MaxoutLinear",
    "Module",
    "ModuleList",
    "NLLLoss",
    "PReLU",
    "Parameter",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_activation",
    "get_loss",
    "init",
    "l1_penalty",
    "l1_prox_",
    "l2_penalty",
    "max_norm_",
    "reconstruction_loss",
    "register_layer",
    "register_module",
    "utils",
]
