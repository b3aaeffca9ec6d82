"""Window arithmetic that convolution and pooling share: kernel/stride/padding pairs,
padding and cropping the spatial axes, whether a window fits, the output size."""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.backend import Array, get_array_module
from chainrule.checks import is_int
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError

Pair = tuple[int, int]


def as_pair(value: int | Sequence[int], name: str, op: str, minimum: int = 1) -> Pair:
    """An int or an (h, w) pair of ints, each at least ``minimum``, as (h, w)."""
    pair = (value, value) if is_int(value) else value
    if not isinstance(pair, tuple | list) or len(pair) != 2 or not all(is_int(v) for v in pair):
        raise ArgumentTypeError(f"{op}: {name} must be an int or a pair of ints; got {value!r}")
    if min(pair) < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{op}: {name} must be {bound}; got {name}={value!r}")
    return int(pair[0]), int(pair[1])


def format_pair(pair: Pair) -> str:
    """'3' for (3, 3), '(3, 5)' otherwise: how a layer names its kernel."""
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))


def check_window_fits(shape: tuple[int, ...], kernel: Pair, padding: Pair, where: str) -> None:
    """Raise unless a ``kernel`` window fits the padded spatial size of an (N, C, H, W) shape."""
    h, w = shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]
    if kernel[0] > h or kernel[1] > w:
        raise ShapeError(
            f"{where} got input of shape {tuple(shape)}: the {kernel[0]}x{kernel[1]} kernel "
            f"does not fit the {h}x{w} input (after padding {padding}); expected H + 2*padding "
            f">= {kernel[0]} and W + 2*padding >= {kernel[1]}"
        )


def output_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair) -> Pair:
    """(H', W') = floor((H + 2p - k) / s) + 1 per axis."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = size, kernel, stride, padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def pad_spatial(x: Array, padding: Pair, value: float = 0.0) -> Array:
    """x (..., H, W) with ``padding`` rows/columns of ``value`` on each side, in x's layout."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    shape = (*x.shape[:-2], x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw)
    padded = xp.full_like(x, value, shape=shape)
    padded[..., ph : ph + x.shape[-2], pw : pw + x.shape[-1]] = x
    return padded


def crop_spatial(x: Array, padding: Pair) -> Array:
    """The inverse of ``pad_spatial``: a view without the padding."""
    ph, pw = padding
    return x[..., ph : x.shape[-2] - ph, pw : x.shape[-1] - pw]
