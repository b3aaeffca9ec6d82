"""Elementwise ops: arithmetic, the smooth functions, and the piecewise-linear ones."""

from __future__ import annotations

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import get_array_module
from chainrule.backend.kernels import relu_backward
from chainrule.checks import check_number
from chainrule.errors import ArgumentError
from chainrule.ops._operands import as_tensor, binary

# ------------------------------------------------------------------ arithmetic


class Add(Function):
    """y = a + b."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y, grad_y

    @staticmethod
    def backward_graph(ctx, grad_y):
        return grad_y, grad_y


class Sub(Function):
    """y = a - b."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y, (-grad_y if ctx.needs_input_grad[1] else None)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return grad_y, (-grad_y if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b; saves both, since dy/da = b and dy/db = a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_y):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (grad_y * b if need_a else None), (grad_y * a if need_b else None)

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return (grad_y * b if need_a else None), (grad_y * a if need_b else None)


class Div(Function):
    """y = a / b; dy/da = 1/b, dy/db = -a/b^2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_y):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y / b if need_a else None
        grad_b = -grad_y * a / (b * b) if need_b else None
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y / b if need_a else None
        grad_b = -grad_y * a / (b * b) if need_b else None
        return grad_a, grad_b


class Pow(Function):
    """y = a ** b; dy/da = b a^(b-1), dy/db = y log a (taken as 0 where a <= 0)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a**b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        a, b, y = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y * b * a ** (b - 1) if need_a else None
        grad_b = None
        if need_b:
            xp = get_array_module(a)
            positive = a > 0
            grad_b = grad_y * y * xp.log(xp.where(positive, a, 1)) * positive
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y * b * a ** (b - 1) if need_a else None
        grad_b = None
        if need_b:
            positive = a.data > 0
            grad_b = grad_y * a**b * where(positive, a, 1.0).log() * positive.astype(a.dtype)
        return grad_a, grad_b


class Neg(Function):
    """y = -x."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad_y):
        return (-grad_y,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (-grad_y,)


# ------------------------------------------------------------ smooth functions


class Exp(Function):
    """y = e^x; saves y, since dy/dx = y."""

    @staticmethod
    def forward(ctx, x):
        y = get_array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (grad_y * y,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y * exp(ctx.inputs[0]),)


class Log(Function):
    """y = ln x; dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved
        return (grad_y / x,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y / ctx.inputs[0],)


class Sqrt(Function):
    """y = sqrt(x); saves y, since dy/dx = 1 / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = get_array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (grad_y / (2 * y),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y / (2 * sqrt(ctx.inputs[0])),)


class Tanh(Function):
    """y = tanh x; saves y, since dy/dx = 1 - y^2."""

    @staticmethod
    def forward(ctx, x):
        y = get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (grad_y * (1 - y * y),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        y = tanh(ctx.inputs[0])
        return (grad_y * (1 - y * y),)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x); saves y, since dy/dx = y (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        z = xp.exp(-xp.abs(x))  # in (0, 1]: neither branch overflows
        y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (grad_y * y * (1 - y),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        y = sigmoid(ctx.inputs[0])
        return (grad_y * y * (1 - y),)


# ----------------------------------------------------------- piecewise linear


class Abs(Function):
    """y = |x|; dy/dx = sign(x) (0 at 0)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved
        return (grad_y * get_array_module(x).sign(x),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0].data
        return (grad_y * get_array_module(x).sign(x),)


class ReLU(Function):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0.

    Backward reads the mask off the output (y > 0 exactly where x > 0), which the next
    layer keeps anyway: no mask array is stored. NOTE: the gradient at the tie x == 0 is
    0, as in PyTorch, not the 1/2 that maximum's rule would give.
    """

    @staticmethod
    def forward(ctx, x):
        y = get_array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (relu_backward(grad_y, y),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0].data
        return (grad_y * (x > 0).astype(x.dtype),)


class Maximum(Function):
    """y = max(a, b) elementwise; the gradient goes to the larger, split evenly at ties."""

    @staticmethod
    def forward(ctx, a, b):
        xp = get_array_module(a, b)
        ctx.save_for_backward(a, b)
        return xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad_y):
        a, b = ctx.saved
        share_a = (a > b) + 0.5 * (a == b)
        grad_a = grad_y * share_a
        return grad_a, grad_y - grad_a

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.saved
        share_a = (a > b) + 0.5 * (a == b)
        return grad_y * share_a, grad_y * (1 - share_a)


class Minimum(Function):
    """y = min(a, b) elementwise; the gradient goes to the smaller, split evenly at ties."""

    @staticmethod
    def forward(ctx, a, b):
        xp = get_array_module(a, b)
        ctx.save_for_backward(a, b)
        return xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad_y):
        a, b = ctx.saved
        share_a = (a < b) + 0.5 * (a == b)
        grad_a = grad_y * share_a
        return grad_a, grad_y - grad_a

    @staticmethod
    def backward_graph(ctx, grad_y):
        a, b = ctx.saved
        share_a = (a < b) + 0.5 * (a == b)
        return grad_y * share_a, grad_y * (1 - share_a)


class Clip(Function):
    """y = min(max(x, low), high); the gradient passes where low <= x <= high."""

    @staticmethod
    def forward(ctx, x, low=None, high=None):
        xp = get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save_for_backward(inside)
        return xp.clip(x, low, high)

    @staticmethod
    def backward(ctx, grad_y):
        (inside,) = ctx.saved
        return (grad_y * inside,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        (inside,) = ctx.saved
        return (grad_y * inside.astype(grad_y.dtype),)


class Where(Function):
    """y = a where condition else b."""

    @staticmethod
    def forward(ctx, a, b, condition=None):
        xp = get_array_module(a, b)
        ctx.save_for_backward(condition)
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad_y):
        (condition,) = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y * condition if need_a else None
        grad_b = grad_y * ~condition if need_b else None
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        (condition,) = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_y * condition.astype(grad_y.dtype) if need_a else None
        grad_b = grad_y * (~condition).astype(grad_y.dtype) if need_b else None
        return grad_a, grad_b


# ------------------------------------------------------------- the functions


def add(a: TensorLike, b: TensorLike) -> Tensor:
    """a + b, broadcasting."""
    return Add.apply(*binary(a, b))


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    """a - b, broadcasting."""
    return Sub.apply(*binary(a, b))


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    """a * b, broadcasting."""
    return Mul.apply(*binary(a, b))


def div(a: TensorLike, b: TensorLike) -> Tensor:
    """a / b, broadcasting."""
    return Div.apply(*binary(a, b))


def pow(a: TensorLike, b: TensorLike) -> Tensor:
    """a ** b, broadcasting."""
    return Pow.apply(*binary(a, b))


def neg(x: Tensor) -> Tensor:
    return Neg.apply(as_tensor(x))


def exp(x: Tensor) -> Tensor:
    return Exp.apply(as_tensor(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    return Log.apply(as_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(as_tensor(x))


def abs(x: Tensor) -> Tensor:
    return Abs.apply(as_tensor(x))


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(as_tensor(x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), computed without overflow for large |x|."""
    return Sigmoid.apply(as_tensor(x))


def relu(x: Tensor) -> Tensor:
    """max(x, 0), with gradient 0 at 0."""
    return ReLU.apply(as_tensor(x))


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise max of a and b, broadcasting."""
    return Maximum.apply(*binary(a, b))


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise min of a and b, broadcasting."""
    return Minimum.apply(*binary(a, b))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """x limited to [min, max] (either bound may be None)."""
    for name, bound in (("min", min), ("max", max)):
        if bound is not None:
            check_number(bound, name, "clip", finite=False)
    if min is None and max is None:
        raise ArgumentError("clip: give at least one of min and max; got neither")
    if min is not None and max is not None and min > max:
        raise ArgumentError(f"clip: min must not exceed max; got min={min}, max={max}")
    return Clip.apply(as_tensor(x), low=min, high=max)


def where(condition: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """a where ``condition`` is true, else b (all three broadcast together)."""
    a, b = binary(a, b)
    condition = condition.data if isinstance(condition, Tensor) else condition
    xp = get_array_module(a.data)
    return Where.apply(a, b, condition=xp.asarray(condition, dtype=bool))
