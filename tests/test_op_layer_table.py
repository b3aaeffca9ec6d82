"""The one table of public ops and layers: every name in ``ops.__all__`` and ``nn.__all__``
has a row here, or the test fails naming it.

An op's row is a gradcheck case (the op, and float64 inputs made fresh), or the reason it
has none (not differentiable, random). A layer's row is how to make it with non-default
settings and an input shape: the layer is gradchecked in float64 here, and saved and
loaded (tests/test_model_file.py) from the same row. A name that is no layer says why.
Adding an op or a layer means adding its row.
"""

import functools
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, ops

rng = np.random.default_rng(20)


def normal(*shape):
    return rng.standard_normal(shape)


def away_from_zero(*shape):
    """Magnitudes in [0.3, 2]: clear of the kinks at 0 (abs, relu, hardtanh's at +-1 aside)."""
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def distinct(*shape):
    """No ties, so max/min/maxout and max-pooling have one winner per window."""
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)


def probabilities(*shape):
    return rng.uniform(0.1, 0.9, shape)


def labels(n, c):
    return rng.integers(0, c, n)


class Case(NamedTuple):
    """fn(*inputs()) is gradchecked against every floating input."""

    fn: object
    inputs: object


# fixed targets: the function differentiated must be the same at every evaluation
PROBABILITY_TARGETS = cr.tensor(probabilities(5, 2), dtype="float64")
CLASS_TARGETS = cr.tensor(labels(5, 4))
TEACHER = cr.tensor(normal(5, 4), dtype="float64")

NOT_DIFFERENTIABLE = "not differentiable: compares or tests values (gives booleans or indices)"

OPS = {
    "abs": Case(ops.abs, lambda: [away_from_zero(3, 4)]),
    "abs_rectify": Case(ops.abs_rectify, lambda: [away_from_zero(3, 4)]),
    "add": Case(ops.add, lambda: [normal(3, 4), normal(4)]),
    "all": NOT_DIFFERENTIABLE,
    "any": NOT_DIFFERENTIABLE,
    "argmax": NOT_DIFFERENTIABLE,
    "argmin": NOT_DIFFERENTIABLE,
    "astype": Case(lambda x: ops.astype(x, "float64"), lambda: [normal(3, 4)]),
    "avg_pool2d": Case(lambda x: ops.avg_pool2d(x, 2, 1, 1), lambda: [normal(2, 2, 5, 5)]),
    "batch_norm": Case(
        lambda x, w, b: ops.batch_norm(x, None, None, w, b, training=True),
        lambda: [normal(6, 3), positive(3), normal(3)],
    ),
    "binary_cross_entropy": Case(
        lambda p: ops.binary_cross_entropy(p, PROBABILITY_TARGETS),
        lambda: [probabilities(5, 2)],
    ),
    "binary_cross_entropy_with_logits": Case(
        lambda z: ops.binary_cross_entropy_with_logits(z, PROBABILITY_TARGETS),
        lambda: [normal(5, 2)],
    ),
    "broadcast_to": Case(lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda: [normal(3, 1)]),
    "cat": Case(lambda a, b: ops.cat([a, b], axis=1), lambda: [normal(2, 3), normal(2, 2)]),
    "clip": Case(lambda x: ops.clip(x, -0.5, 0.8), lambda: [normal(3, 4)]),
    "concatenate": Case(
        lambda a, b: ops.concatenate([a, b], axis=0), lambda: [normal(2, 3), normal(1, 3)]
    ),
    "conv2d": Case(
        lambda x, w, b: ops.conv2d(x, w, b, stride=(2, 1), padding=1),
        lambda: [normal(2, 2, 5, 5), normal(3, 2, 3, 2), normal(3)],
    ),
    "cross_entropy": Case(
        lambda z: ops.cross_entropy(z, CLASS_TARGETS, label_smoothing=0.1),
        lambda: [normal(5, 4)],
    ),
    "distillation_loss": Case(
        lambda z: ops.distillation_loss(z, ops.soft_targets(TEACHER), CLASS_TARGETS),
        lambda: [normal(5, 4)],
    ),
    "div": Case(ops.div, lambda: [normal(3, 4), away_from_zero(3, 4)]),
    "dropout": Case(lambda x: ops.dropout(x, 0.5, training=False), lambda: [normal(3, 4)]),
    "elu": Case(lambda x: ops.elu(x, 0.7), lambda: [away_from_zero(3, 4)]),
    "eq": NOT_DIFFERENTIABLE,
    "exp": Case(ops.exp, lambda: [normal(3, 4)]),
    "expand": Case(lambda x: ops.expand(x, (2, 3, 4)), lambda: [normal(1, 4)]),
    "flatten": Case(lambda x: ops.flatten(x, 1), lambda: [normal(2, 3, 4)]),
    "ge": NOT_DIFFERENTIABLE,
    "gelu": Case(lambda x: ops.gelu(x, "tanh") + ops.gelu(x), lambda: [normal(3, 4)]),
    "getitem": Case(lambda x: ops.getitem(x, (slice(None), [0, 2, 2])), lambda: [normal(3, 4)]),
    "gt": NOT_DIFFERENTIABLE,
    "hardtanh": Case(lambda x: ops.hardtanh(x, -0.5, 0.5), lambda: [away_from_zero(3, 4)]),
    "isfinite": NOT_DIFFERENTIABLE,
    "l1_loss": Case(
        lambda x: ops.l1_loss(x, cr.tensor(np.zeros((3, 4)), dtype="float64")),
        lambda: [away_from_zero(3, 4)],
    ),
    "le": NOT_DIFFERENTIABLE,
    "leaky_relu": Case(lambda x: ops.leaky_relu(x, 0.2), lambda: [away_from_zero(3, 4)]),
    "linear": Case(ops.linear, lambda: [normal(2, 3, 4), normal(5, 4), normal(5)]),
    "log": Case(ops.log, lambda: [positive(3, 4)]),
    "log_softmax": Case(lambda x: ops.log_softmax(x, 0), lambda: [normal(3, 4)]),
    "logsumexp": Case(lambda x: ops.logsumexp(x, axis=1), lambda: [normal(3, 4)]),
    "lp_pool2d": Case(lambda x: ops.lp_pool2d(x, 3, 2), lambda: [positive(2, 2, 4, 4)]),
    "lt": NOT_DIFFERENTIABLE,
    "matmul": Case(ops.matmul, lambda: [normal(2, 3, 4), normal(4, 5)]),
    "max": Case(lambda x: ops.max(x, axis=0), lambda: [distinct(3, 4)]),
    "max_pool2d": Case(lambda x: ops.max_pool2d(x, 3, 2, 1), lambda: [distinct(2, 2, 5, 5)]),
    "maximum": Case(ops.maximum, lambda: [distinct(3, 4), distinct(3, 4) + 0.11]),
    "maxout": Case(lambda x: ops.maxout(x, 2), lambda: [distinct(3, 4, 2)]),
    "mean": Case(lambda x: ops.mean(x, axis=1, keepdims=True), lambda: [normal(3, 4)]),
    "min": Case(lambda x: ops.min(x, axis=1), lambda: [distinct(3, 4)]),
    "minimum": Case(ops.minimum, lambda: [distinct(3, 4), distinct(3, 4) + 0.11]),
    "mse_loss": Case(ops.mse_loss, lambda: [normal(3, 4), normal(3, 4)]),
    "mul": Case(ops.mul, lambda: [normal(3, 4), normal(3, 1)]),
    "ne": NOT_DIFFERENTIABLE,
    "neg": Case(ops.neg, lambda: [normal(3, 4)]),
    "nll_loss": Case(
        lambda x: ops.nll_loss(ops.log_softmax(x, 1), CLASS_TARGETS),
        lambda: [normal(5, 4)],
    ),
    "pad": Case(lambda x: ops.pad(x, [(1, 0), (2, 1)], 0.5), lambda: [normal(3, 4)]),
    "permute": Case(lambda x: ops.permute(x, (2, 0, 1)), lambda: [normal(2, 3, 4)]),
    "pow": Case(ops.pow, lambda: [positive(3, 4), normal(3, 4)]),
    "prelu": Case(ops.prelu, lambda: [away_from_zero(2, 3, 4), positive(3)]),
    "rbf": Case(lambda x, w: ops.rbf(x, w, 1.5), lambda: [normal(4, 3), normal(5, 3)]),
    "relu": Case(ops.relu, lambda: [away_from_zero(3, 4)]),
    "reshape": Case(lambda x: ops.reshape(x, (4, 3)), lambda: [normal(3, 4)]),
    "sigmoid": Case(ops.sigmoid, lambda: [normal(3, 4)]),
    "soft_targets": Case(lambda z: ops.soft_targets(z, 2.0), lambda: [normal(3, 4)]),
    "softmax": Case(lambda x: ops.softmax(x, 1), lambda: [normal(3, 4)]),
    "softplus": Case(lambda x: ops.softplus(x, 2.0), lambda: [normal(3, 4)]),
    "sqrt": Case(ops.sqrt, lambda: [positive(3, 4)]),
    "squeeze": Case(lambda x: ops.squeeze(x, 1), lambda: [normal(3, 1, 4)]),
    "stack": Case(lambda a, b: ops.stack([a, b], axis=1), lambda: [normal(3, 4), normal(3, 4)]),
    "std": Case(lambda x: ops.std(x, axis=0, ddof=1), lambda: [normal(3, 4)]),
    "sub": Case(ops.sub, lambda: [normal(3, 4), normal(4)]),
    "sum": Case(lambda x: ops.sum(x, axis=(0, 2)), lambda: [normal(2, 3, 4)]),
    "tanh": Case(ops.tanh, lambda: [normal(3, 4)]),
    "to_device": Case(lambda x: ops.to_device(x, "cpu"), lambda: [normal(3, 4)]),
    "transpose": Case(lambda x: ops.transpose(x, 0, 2), lambda: [normal(2, 3, 4)]),
    "unsqueeze": Case(lambda x: ops.unsqueeze(x, 1), lambda: [normal(3, 4)]),
    "var": Case(lambda x: ops.var(x, axis=1), lambda: [normal(3, 4)]),
    "where": Case(
        lambda a, b: ops.where(cr.tensor(np.arange(12).reshape(3, 4) % 3 == 0), a, b),
        lambda: [normal(3, 4), normal(4)],
    ),
}

IMAGES = (2, 3, 6, 6)
FLAT = (4, 6)


class Layer(NamedTuple):
    """A layer made with non-default settings, and the shape of an input it takes."""

    make: object
    shape: tuple


NOT_A_LAYER = "not a layer"

LAYERS = {
    "ACTIVATIONS": f"{NOT_A_LAYER}: the activations by name",
    "Activation": f"{NOT_A_LAYER}: the base class of the elementwise activations",
    "AbsRectify": Layer(nn.AbsRectify, FLAT),
    "Autoencoder": Layer(
        lambda: nn.Autoencoder(nn.Linear(6, 2), nn.Linear(2, 6), noise=0.2, corruption="mask"),
        FLAT,
    ),
    "AvgPool2d": Layer(lambda: nn.AvgPool2d(2, stride=1), IMAGES),
    "BCELoss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "BCEWithLogitsLoss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "BatchNorm1d": Layer(lambda: nn.BatchNorm1d(6, eps=1e-3, momentum=0.2), FLAT),
    "BatchNorm2d": Layer(lambda: nn.BatchNorm2d(3, affine=False), IMAGES),
    "Conv2d": Layer(lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1), IMAGES),
    "CrossEntropyLoss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "Dropout": Layer(lambda: nn.Dropout(0.25), FLAT),
    "ELU": Layer(lambda: nn.ELU(0.5), FLAT),
    "Flatten": Layer(lambda: nn.Flatten(2), IMAGES),
    "GELU": Layer(lambda: nn.GELU(approximate="tanh"), FLAT),
    "Hardtanh": Layer(lambda: nn.Hardtanh(-0.5, 2.0), FLAT),
    "Identity": Layer(nn.Identity, FLAT),
    "L1L2": f"{NOT_A_LAYER}: a weight penalty (tests/test_regularization.py)",
    "L1Loss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "LOSSES": f"{NOT_A_LAYER}: the losses by name",
    "LPPool2d": Layer(lambda: nn.LPPool2d(3, 2, root_of="sum"), IMAGES),
    "LeakyReLU": Layer(lambda: nn.LeakyReLU(0.2), FLAT),
    "Linear": Layer(lambda: nn.Linear(6, 5, bias=False), FLAT),
    "LogSoftmax": Layer(lambda: nn.LogSoftmax(axis=1), FLAT),
    "MSELoss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "MaxNorm": f"{NOT_A_LAYER}: a weight constraint (tests/test_regularization.py)",
    "MaxPool2d": Layer(lambda: nn.MaxPool2d(3, stride=2, padding=1), IMAGES),
    "Maxout": Layer(lambda: nn.Maxout(2), FLAT),
    "MaxoutLinear": Layer(lambda: nn.MaxoutLinear(6, 3, 4), FLAT),
    "Module": f"{NOT_A_LAYER}: the base class",
    "ModuleList": f"{NOT_A_LAYER}: holds modules, is not called (tests/test_model_file.py)",
    "NLLLoss": f"{NOT_A_LAYER}: a loss (tests/test_losses.py)",
    "PReLU": Layer(lambda: nn.PReLU(3, init=0.1), IMAGES),
    "Parameter": f"{NOT_A_LAYER}: a tensor",
    "RBF": Layer(lambda: nn.RBF(6, 5, sigma=2.5), FLAT),
    "ReLU": Layer(nn.ReLU, FLAT),
    "Residual": Layer(lambda: nn.Residual(nn.Linear(6, 2), projection=nn.Linear(6, 2)), FLAT),
    "Sequential": Layer(lambda: nn.Sequential(OrderedDict(a=nn.Linear(6, 3), b=nn.Tanh())), FLAT),
    "Sigmoid": Layer(nn.Sigmoid, FLAT),
    "Softmax": Layer(lambda: nn.Softmax(axis=0), FLAT),
    "Softplus": Layer(lambda: nn.Softplus(2.0), FLAT),
    "Tanh": Layer(nn.Tanh, FLAT),
    "clip_grad_norm_": f"{NOT_A_LAYER}: gradient clipping (tests/test_optim.py)",
    "clip_grad_value_": f"{NOT_A_LAYER}: gradient clipping (tests/test_optim.py)",
    "get_activation": f"{NOT_A_LAYER}: the activation lookup",
    "get_loss": f"{NOT_A_LAYER}: the loss lookup",
    "init": f"{NOT_A_LAYER}: the initialisers (tests/test_nn_module.py)",
    "l1_penalty": f"{NOT_A_LAYER}: a weight penalty (tests/test_regularization.py)",
    "l1_prox_": f"{NOT_A_LAYER}: a proximal step (tests/test_l1_proximal.py)",
    "l2_penalty": f"{NOT_A_LAYER}: a weight penalty (tests/test_regularization.py)",
    "max_norm_": f"{NOT_A_LAYER}: a weight constraint (tests/test_regularization.py)",
    "reconstruction_loss": f"{NOT_A_LAYER}: a loss (tests/test_autoencoder.py)",
    "register_layer": f"{NOT_A_LAYER}: registers layer types",
    "register_module": f"{NOT_A_LAYER}: registers module types for saving",
    "utils": f"{NOT_A_LAYER}: gradient clipping (tests/test_optim.py)",
}

SHAPED_LAYERS = {name: row for name, row in LAYERS.items() if isinstance(row, Layer)}


@pytest.mark.parametrize(
    "public, table, kind",
    [(ops.__all__, OPS, "ops"), (nn.__all__, LAYERS, "nn")],
    ids=["ops", "nn"],
)
def test_every_public_op_and_layer_has_a_row(public, table, kind):
    missing = sorted(set(public) - set(table))
    assert not missing, (
        f"{kind}.__all__ names without a row in tests/test_op_layer_table.py: {missing}"
    )
    stale = sorted(set(table) - set(public))
    assert not stale, f"rows for names {kind}.__all__ no longer has: {stale}"


@pytest.mark.parametrize("name", sorted(n for n, row in OPS.items() if isinstance(row, Case)))
def test_op_gradient_matches_finite_differences_in_float64(name):
    fn, inputs = OPS[name]
    cr.gradcheck(fn, inputs())


def _float64(layer):
    """The layer with every parameter and buffer in float64 (for finite differences)."""
    return layer.double()


@pytest.mark.parametrize("name", sorted(SHAPED_LAYERS))
def test_layer_gradient_matches_finite_differences_in_float64(name):
    """With respect to the input, then to each parameter the layer learns."""
    make, shape = SHAPED_LAYERS[name]
    cr.manual_seed(0)
    layer = _float64(make()).eval()  # eval: dropout and noise off, batch norm deterministic
    if name in ("MaxPool2d", "Maxout", "MaxoutLinear"):
        x = distinct(*shape) / 4  # no ties for the maximum
    elif name == "LPPool2d":
        x = positive(*shape)  # x^3 of negatives has no real cube root
    else:
        x = normal(*shape)
    cr.gradcheck(layer, [x])
    for module in layer.modules():
        for key, parameter in list(module._parameters.items()):
            if parameter is not None and parameter.requires_grad:
                of_weight = functools.partial(_with, module, key, layer=layer, x=x)
                cr.gradcheck(of_weight, [parameter.data.copy()])


def _float64(layer):
    """The layer with every parameter and buffer in float64 (for finite differences)."""
    return layer.double()


def _with(module, key, value, *, layer, x):
    """layer(x) with ``module.key`` read as the tensor ``value`` (so gradients reach it)."""
    parameter = module.__dict__[key]
    object.__setattr__(module, key, value)
    try:
        return layer(cr.tensor(x, dtype="float64"))
    finally:
        object.__setattr__(module, key, parameter)
