"""Shape ops: reshape, permute, broadcast, index, concatenate, pad (and what builds on them)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.backend.kernels import index_add
from chainrule.checks import is_number
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.ops._operands import as_tensor, normalize_axis, normalize_single_axis


class Reshape(Function):
    """Same values, new shape; the gradient is reshaped back."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y.reshape(ctx.shape),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y.reshape(ctx.shape),)


class Permute(Function):
    """Axes reordered; the gradient is permuted by the inverse order."""

    @staticmethod
    def forward(ctx, x, axes=()):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad_y):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return (grad_y.transpose(inverse),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return (Permute.apply(grad_y, axes=tuple(inverse)),)


class BroadcastTo(Function):
    """x repeated along new or size-1 axes; the engine sums the gradient back."""

    @staticmethod
    def forward(ctx, x, shape=()):
        return get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y,)


class GetItem(Function):
    """x[index] for basic (slices, ints, None, ...) and integer-array or boolean indices.

    The gradient is scattered back; repeated integer indices add up.
    """

    @staticmethod
    def forward(ctx, x, index=None, advanced=False):
        ctx.shape, ctx.index, ctx.advanced = x.shape, index, advanced
        return x[index]

    @staticmethod
    def backward(ctx, grad_y):
        xp = get_array_module(grad_y)
        grad_x = xp.zeros(ctx.shape, dtype=grad_y.dtype)
        if ctx.advanced:
            index_add(grad_x, ctx.index, grad_y)
        else:
            grad_x[ctx.index] = grad_y
        return (grad_x,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (ScatterAdd.apply(grad_y, shape=ctx.shape, index=ctx.index, advanced=ctx.advanced),)


class ScatterAdd(Function):
    """y = zeros(shape) with g added at ``index``: the adjoint of ``GetItem``, which is
    how ``GetItem``'s gradient enters a graph (its own gradient is ``GetItem`` again)."""

    @staticmethod
    def forward(ctx, g, shape=(), index=None, advanced=False):
        ctx.index, ctx.advanced = index, advanced
        out = get_array_module(g).zeros(shape, dtype=g.dtype)
        if advanced:
            index_add(out, index, g)
        else:
            out[index] = g
        return out

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y[ctx.index],)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (GetItem.apply(grad_y, index=ctx.index, advanced=ctx.advanced),)


class Concatenate(Function):
    """Inputs joined along ``axis``; the gradient is split at the same places."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        xp = get_array_module(*arrays)
        ctx.axis = axis
        ctx.bounds = []
        total = 0
        for a in arrays[:-1]:
            total += a.shape[axis]
            ctx.bounds.append(total)
        return xp.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_y):
        return tuple(get_array_module(grad_y).split(grad_y, ctx.bounds, axis=ctx.axis))

    @staticmethod
    def backward_graph(ctx, grad_y):
        before = (slice(None),) * ctx.axis
        bounds = [0, *ctx.bounds, grad_y.shape[ctx.axis]]
        return tuple(
            GetItem.apply(grad_y, index=(*before, slice(lo, hi)), advanced=False)
            for lo, hi in zip(bounds[:-1], bounds[1:])
        )


class Pad(Function):
    """x surrounded by ``value``; the gradient is the interior."""

    @staticmethod
    def forward(ctx, x, widths=(), value=0.0):
        ctx.interior = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return get_array_module(x).pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y[ctx.interior],)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (GetItem.apply(grad_y, index=ctx.interior, advanced=False),)


# ------------------------------------------------------------- the functions


def _is_int(n: Any) -> bool:
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


def _as_shape(shape: Any, op: str) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints) as a tuple of ints, else an error naming it."""
    shape = (shape,) if _is_int(shape) else shape
    if not isinstance(shape, tuple | list) or not all(_is_int(n) for n in shape):
        raise ArgumentTypeError(f"{op}: shape must be an int or a sequence of ints; got {shape!r}")
    return tuple(int(n) for n in shape)


def reshape(x: Tensor, shape: int | Sequence[int]) -> Tensor:
    """The same values in ``shape`` (one axis may be -1)."""
    return Reshape.apply(as_tensor(x), shape=_as_shape(shape, "reshape"))


def permute(x: Tensor, axes: Sequence[int]) -> Tensor:
    """Axes reordered: output axis i is input axis ``axes[i]``."""
    x = as_tensor(x)
    axes = (axes,) if _is_int(axes) else axes
    if not isinstance(axes, tuple | list) or len(axes) != x.ndim:
        raise ShapeError(
            f"permute: axes {axes!r} are not a permutation of the {x.ndim} axes of shape {x.shape}"
        )
    normalize_axis(axes, x.ndim, "permute")  # ints, in range, none named twice
    return Permute.apply(x, axes=tuple(int(a) % x.ndim for a in axes))


def transpose(x: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes (the last two by default, as batched matmul wants)."""
    x = as_tensor(x)
    a = normalize_single_axis(axis0, x.ndim, "transpose")
    b = normalize_single_axis(axis1, x.ndim, "transpose")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(x, axes=tuple(axes))


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """x expanded to ``shape`` by broadcasting (no copy); the gradient is summed back."""
    x = as_tensor(x)
    shape = _as_shape(shape, "broadcast_to")
    if len(shape) < x.ndim or any(n != 1 and n != m for n, m in zip(x.shape[::-1], shape[::-1])):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


expand = broadcast_to


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Axes start_axis..end_axis merged into one."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_single_axis(start_axis, x.ndim, "flatten")
    end = normalize_single_axis(end_axis, x.ndim, "flatten")
    if start > end:
        raise ArgumentError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    merged = 1
    for n in x.shape[start : end + 1]:
        merged *= n
    return reshape(x, (*x.shape[:start], merged, *x.shape[end + 1 :]))


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Drop size-1 axes (all of them, or those in ``axis``)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert a size-1 axis at ``axis``."""
    x = as_tensor(x)
    a = normalize_single_axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, (*x.shape[:a], 1, *x.shape[a:]))


def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]: slices, ints, None, Ellipsis, integer arrays, boolean masks."""
    x = as_tensor(x)
    index, advanced = _prepare_index(index, get_array_module(x.data))
    try:
        return GetItem.apply(x, index=index, advanced=advanced)
    except IndexError as error:
        raise ShapeError(
            f"getitem: index {index!r} does not fit shape {x.shape}: {error}"
        ) from None


def _prepare_index(index: Any, xp: Any) -> tuple[Any, bool]:
    """The index with tensors and lists turned into arrays of ``xp`` (the indexed array's
    namespace, so host indices reach a GPU array), and whether any part is an array."""
    parts = index if isinstance(index, tuple) else (index,)
    prepared, advanced = [], False
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        elif isinstance(part, list):
            part = xp.asarray(part)
        if part is None or part is Ellipsis or isinstance(part, int | slice):
            pass
        elif hasattr(part, "dtype") and part.dtype.kind in "iub":
            if part.ndim > 0:
                part = xp.asarray(part)
            advanced = advanced or part.ndim > 0 or part.dtype.kind == "b"
        else:
            raise ArgumentTypeError(
                f"getitem: cannot index with {type(part).__name__}; expected int, slice, None, "
                "Ellipsis, or an integer or boolean array"
            )
        prepared.append(part)
    return (tuple(prepared) if isinstance(index, tuple) else prepared[0]), advanced


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Tensors joined along an existing ``axis``."""
    tensors = _as_tensor_list(tensors, "concatenate")
    a = normalize_single_axis(axis, tensors[0].ndim, "concatenate")
    first = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != len(first) or any(
            n != m for i, (n, m) in enumerate(zip(t.shape, first)) if i != a
        ):
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ShapeError(
                f"concatenate: shapes {shapes} must agree on every axis except axis {a}"
            )
    return Concatenate.apply(*tensors, axis=a)


cat = concatenate


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Tensors of one shape joined along a new ``axis``."""
    tensors = _as_tensor_list(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: every tensor must have the same shape; got {sorted(shapes)}")
    a = normalize_single_axis(axis, tensors[0].ndim + 1, "stack")
    return concatenate([unsqueeze(t, a) for t in tensors], axis=a)


def pad(x: Tensor, pad_width: int | Sequence[Any], value: float = 0.0) -> Tensor:
    """x padded with ``value``: ``pad_width`` as in numpy.pad, ((before, after), ...) per
    axis, one (before, after) pair for all axes, or one int for all sides."""
    x = as_tensor(x)
    widths: list[tuple[Any, ...]] | None = None
    if _is_int(pad_width):
        widths = [(pad_width, pad_width)] * x.ndim
    elif isinstance(pad_width, tuple | list):
        if len(pad_width) == 2 and all(_is_int(w) for w in pad_width):
            widths = [tuple(pad_width)] * x.ndim
        elif all(isinstance(w, tuple | list) for w in pad_width):
            widths = [tuple(w) for w in pad_width]
    if (
        widths is None
        or len(widths) != x.ndim
        or any(len(w) != 2 or not all(_is_int(n) and n >= 0 for n in w) for w in widths)
    ):
        raise ArgumentError(
            f"pad: pad_width must give non-negative (before, after) ints for each of the "
            f"{x.ndim} axes; got {pad_width!r}"
        )
    if not is_number(value):
        raise ArgumentTypeError(f"pad: value must be a number; got value={value!r}")
    return Pad.apply(x, widths=[(int(a), int(b)) for a, b in widths], value=value)


def _as_tensor_list(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence) or not tensors:
        raise ArgumentTypeError(f"{op}: expected a non-empty list of tensors; got {tensors!r}")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    return [as_tensor(t, first) for t in tensors]
