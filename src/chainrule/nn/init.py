"""Initialisers: fill a parameter in place, drawing from the library's seeded generator.

Each takes the tensor first and returns it, as in PyTorch (``xavier_uniform_(w)``).
fan_in / fan_out of a weight (out, in, *kernel) are in * prod(kernel) and
out * prod(kernel). ``get_initializer`` turns a name ('he_normal', 'xavier_uniform',
...) into one of these, for the ``weight_init`` argument of layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.checks import check_number
from chainrule.errors import ArgumentError, ShapeError

Initializer = Callable[..., Tensor]


def calculate_fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if len(shape) < 2:
        raise ShapeError(
            f"fan in/out needs a weight with at least 2 axes; got shape {shape} (for a bias_init "
            "use 'zeros', 'ones', 'normal', 'uniform' or 'truncated_normal')"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``."""
    gains = {
        "linear": 1.0,
        "identity": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3,
        "relu": math.sqrt(2.0),
        "selu": 0.75,
    }
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else check_number(param, "a", "calculate_gain")
        return math.sqrt(2.0 / (1 + slope**2))
    if not isinstance(nonlinearity, str) or nonlinearity not in gains:
        raise ArgumentError(
            f"unknown nonlinearity {nonlinearity!r}; expected one of {sorted([*gains, 'leaky_relu'])}"
        )
    return gains[nonlinearity]


def _fill(tensor: Tensor, values: Any) -> Tensor:
    xp = backend.get_array_module(tensor.data)
    tensor.data[...] = xp.asarray(values, dtype=tensor.dtype)
    return tensor


def _rng(generator: backend.Generator | None) -> backend.Generator:
    return generator if generator is not None else backend.default_generator()


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def constant_(tensor: Tensor, value: float) -> Tensor:
    return _fill(tensor, check_number(value, "value", "constant_"))


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: backend.Generator | None = None
) -> Tensor:
    """Draws from U(a, b)."""
    a, b = check_number(a, "a", "uniform_"), check_number(b, "b", "uniform_")
    if not a <= b:
        raise ArgumentError(f"uniform_: need a <= b; got a={a}, b={b}")
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: backend.Generator | None = None
) -> Tensor:
    """Draws from N(mean, std^2)."""
    mean, std = check_number(mean, "mean", "normal_"), check_number(std, "std", "normal_")
    if std < 0:
        raise ArgumentError(f"normal_: std must be non-negative; got {std}")
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def truncated_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float | None = None,
    b: float | None = None,
    generator: backend.Generator | None = None,
) -> Tensor:
    """Draws from N(mean, std^2) redrawn until inside [a, b] (default mean -/+ 2 std)."""
    mean = check_number(mean, "mean", "truncated_normal_")
    std = check_number(std, "std", "truncated_normal_")
    if not std > 0:
        raise ArgumentError(f"truncated_normal_: std must be positive; got std={std}")
    a = mean - 2 * std if a is None else check_number(a, "a", "truncated_normal_")
    b = mean + 2 * std if b is None else check_number(b, "b", "truncated_normal_")
    if not a < b:
        raise ArgumentError(
            f"truncated_normal_: need a < b; got a={a}, b={b} (mean={mean}, std={std})"
        )
    rng = _rng(generator)
    values = rng.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():  # each round redraws only the rejects; ~5% at 2 std
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: backend.Generator | None = None
) -> Tensor:
    """Glorot & Bengio: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    gain = _gain(gain, "xavier_uniform_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor.shape)
    if tensor.size == 0:
        return tensor  # nothing to fill, and no fan to divide by
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, generator: backend.Generator | None = None
) -> Tensor:
    """Glorot & Bengio: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    gain = _gain(gain, "xavier_normal_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor.shape)
    if tensor.size == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _gain(gain: Any, fn: str) -> float:
    gain = check_number(gain, "gain", fn)
    if gain < 0:
        raise ArgumentError(f"{fn}: gain must be non-negative; got gain={gain}")
    return gain


def _fan(tensor: Tensor, mode: str) -> int:
    """The fan ``mode`` names (at least 1: an empty weight has nothing to fill anyway)."""
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"mode must be 'fan_in' or 'fan_out'; got mode={mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor.shape)
    return max(fan_in if mode == "fan_in" else fan_out, 1)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: backend.Generator | None = None,
) -> Tensor:
    """He et al.: U(-b, b) with b = gain * sqrt(3 / fan); gain sqrt(2) for ReLU."""
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: backend.Generator | None = None,
) -> Tensor:
    """He et al.: N(0, std^2) with std = gain / sqrt(fan); sqrt(2 / fan_in) for ReLU."""
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0.0, gain / math.sqrt(_fan(tensor, mode)), generator)


def lecun_normal_(tensor: Tensor, generator: backend.Generator | None = None) -> Tensor:
    """LeCun: truncated normal (2 std) with std sqrt(1 / fan_in) after truncation (as Keras)."""
    fan_in = _fan(tensor, "fan_in")
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # undo the variance truncation loses
    return truncated_normal_(tensor, 0.0, std, generator=generator)


def inv_sqrt_fan_in_normal_(tensor: Tensor, generator: backend.Generator | None = None) -> Tensor:
    """The lecture's (and Nielsen's) weights: N(0, 1/n_in), i.e. std 1 / sqrt(n_in)."""
    fan_in = _fan(tensor, "fan_in")
    return normal_(tensor, 0.0, 1.0 / math.sqrt(fan_in), generator)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros_,
    "ones": ones_,
    "normal": normal_,
    "uniform": uniform_,
    "truncated_normal": truncated_normal_,
    "xavier_uniform": xavier_uniform_,
    "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_,
    "glorot_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_,
    "he_uniform": kaiming_uniform_,
    "kaiming_normal": kaiming_normal_,
    "he_normal": kaiming_normal_,
    "lecun_normal": lecun_normal_,
    "inv_sqrt_fan_in_normal": inv_sqrt_fan_in_normal_,
}


def get_initializer(spec: str | Initializer, argument: str = "initializer") -> Initializer:
    """An initializer from its name in ``INITIALIZERS`` or a function ``f(tensor) -> tensor``;
    ``argument`` names what was passed in errors (e.g. 'weight_init')."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec not in INITIALIZERS:
        raise ArgumentError(
            f"{argument}: unknown initializer {spec!r}; expected one of {sorted(INITIALIZERS)} "
            "or a function"
        )
    return INITIALIZERS[spec]
