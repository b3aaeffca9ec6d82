"""Dropout: zero random elements in training, scaled so the expectation is unchanged."""

from __future__ import annotations

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import kernels
from chainrule.backend.random import device_generator, random_bits
from chainrule.checks import is_number
from chainrule.errors import ArgumentError, ArgumentTypeError, DTypeError
from chainrule.ops._operands import as_tensor


class Dropout(Function):
    """y = x * mask, the mask holding 0 or 1 / (1 - p); the gradient is masked the same way."""

    @staticmethod
    def forward(ctx, x, draws=None, p=0.5):
        y, mask = kernels.dropout(x, draws, p)  # draws: random bits or uniforms, x's shape
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (mask,) = ctx.saved
        return (grad_y * mask,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        (mask,) = ctx.saved
        return (grad_y * mask,)


def check_p(p: float, where: str) -> float:
    """``p`` as a float if it is a drop probability in [0, 1), else an error naming ``where``."""
    if not is_number(p):
        raise ArgumentTypeError(f"{where}: p must be a number in [0, 1); got p={p!r}")
    if not 0 <= p < 1:
        raise ArgumentError(f"{where}: p must be in [0, 1) (the probability to drop); got p={p}")
    return float(p)


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, generator: backend.Generator | None = None
) -> Tensor:
    """Inverted dropout: in training, each element is zeroed with probability p and the rest
    scaled by 1 / (1 - p); x itself when not training or p == 0. Any shape -> same shape.

    The mask comes from ``generator`` (the library's seeded one by default), drawn where
    ``x`` is: on the CPU from that NumPy generator itself (32 random bits per element,
    ``backend.random.random_bits``, p met to within 2**-32); on a GPU from a CuPy generator (``backend.random.device_generator`` for the
    library's; for a given ``generator``, one made per call from one seed drawn from it),
    so no mask crosses to the device.
    """
    p = check_p(p, "dropout")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise DTypeError(f"dropout: input must be floating point; got dtype {x.dtype}")
    if x.device == "cpu":
        rng = generator if generator is not None else backend.default_generator()
        return Dropout.apply(x, draws=random_bits(rng, x.shape), p=p)  # kept if >= threshold
    xp = backend.get_array_module(x.data)
    gpu = getattr(x.data.device, "id", 0)
    if generator is None:
        rng = device_generator(xp, gpu)
    else:
        with xp.cuda.Device(gpu):
            rng = xp.random.default_rng(int(generator.integers(2**63)))
    draws = rng.random(x.shape, dtype=backend.float32)  # float32 uniforms, kept if >= p
    return Dropout.apply(x, draws=draws, p=p)
