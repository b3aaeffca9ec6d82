"""Activation functions: the rectifiers, the smooth ones, softmax, RBF units and maxout.

Fused as one ``Function`` where that saves passes or keeps the arithmetic stable
(leaky_relu, prelu, elu, softplus, softmax, log_softmax, gelu, rbf, maxout); composed
from primitives where that is already clean (hardtanh, abs_rectify).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.backend import Array, get_array_module
from chainrule.checks import check_number, check_positive_int
from chainrule.errors import ArgumentError, ShapeError
from chainrule.ops._composite import local_grads
from chainrule.ops._operands import as_tensor, normalize_single_axis
from chainrule.ops.elementwise import abs, clip
from chainrule.ops.linalg import matmul
from chainrule.ops.special import erfc

# ---------------------------------------------------------------- rectifiers


class LeakyReLU(Function):
    """y = s x with slope s = 1 where x > 0, alpha elsewhere; saves s, since dy/dx = s.

    NOTE: the slope is built by arithmetic on the mask, not xp.where: where() on a random
    mask mispredicts branches and runs ~10x slower in NumPy.
    """

    @staticmethod
    def forward(ctx, x, alpha=0.01):
        slope = (x > 0).astype(x.dtype)
        slope *= 1.0 - alpha
        slope += alpha
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx, grad_y):
        (slope,) = ctx.saved
        return (grad_y * slope,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        (slope,) = ctx.saved
        return (grad_y * slope,)


class PReLU(Function):
    """y = s x with s = 1 where x > 0, else the learned alpha_c of x's channel (axis 1).

    dy/dx = s; dy/dalpha_c sums x over the non-positive elements of channel c.
    """

    @staticmethod
    def forward(ctx, x, alpha):
        negative = x <= 0
        alpha = alpha.reshape(_channel_shape(alpha.size, x.ndim))
        slope = 1 - negative * (1 - alpha)
        ctx.save_for_backward(x, slope, negative)
        ctx.shared = alpha.ndim == 0
        return x * slope

    @staticmethod
    def backward(ctx, grad_y):
        x, slope, negative = ctx.saved
        need_x, need_alpha = ctx.needs_input_grad
        grad_x = grad_y * slope if need_x else None
        grad_alpha = None
        if need_alpha:
            axes = None if ctx.shared else (0, *range(2, x.ndim))
            grad_alpha = (grad_y * x * negative).sum(axis=axes).reshape(-1)
        return grad_x, grad_alpha

    @staticmethod
    def backward_graph(ctx, grad_y):
        x, alpha = ctx.inputs
        _, _, negative = ctx.saved
        need_x, need_alpha = ctx.needs_input_grad
        grad_x = grad_alpha = None
        mask = negative.astype(x.dtype)
        if need_x:
            shaped = alpha.reshape(_channel_shape(alpha.size, x.ndim))
            grad_x = grad_y * (1 - mask * (1 - shaped))
        if need_alpha:
            axes = None if ctx.shared else (0, *range(2, x.ndim))
            grad_alpha = (grad_y * x * mask).sum(axis=axes).reshape(-1)
        return grad_x, grad_alpha


def _channel_shape(channels: int, ndim: int) -> tuple[int, ...]:
    """The shape that broadcasts a (C,) vector over axis 1 of an ndim-d tensor (() for C=1)."""
    if channels == 1:
        return ()
    return (1, channels) + (1,) * (ndim - 2)


class ELU(Function):
    """y = x where x > 0, else alpha (e^x - 1); saves the slope, 1 or alpha e^x.

    NOTE: exp of min(x, 0), not of x: e^x is only needed where x <= 0, and would overflow
    for large x. And e^x - 1 rather than expm1: NumPy's expm1 is ~4x slower, and the
    difference (one rounding of 1) is below float32's resolution of the activations anyway.
    """

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = get_array_module(x)
        ctx.alpha = alpha
        e = xp.exp(xp.minimum(x, 0))  # 1 where x > 0
        y = xp.maximum(x, 0)
        y += alpha * (e - 1)
        if ctx.needs_input_grad[0]:
            slope = (x > 0).astype(x.dtype)
            slope *= 1.0 - alpha
            slope += alpha * e  # 1 - alpha + alpha where x > 0, alpha e^x elsewhere
            ctx.save_for_backward(slope)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (slope,) = ctx.saved
        return (grad_y * slope,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0]
        positive = (x.data > 0).astype(x.dtype)
        # alpha e^x on the negative side only (e^x of a large positive x would overflow)
        negative_part = (x * (1 - positive)).exp() * ((1 - positive) * ctx.alpha)
        return (grad_y * (negative_part + positive),)


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta; dy/dx = sigmoid(beta x).

    Computed as max(z, 0) + log(1 + e^-|z|) with z = beta x: exact, and e^-|z| <= 1
    never overflows, so softplus(1000) = 1000.
    """

    @staticmethod
    def forward(ctx, x, beta=1.0):
        xp = get_array_module(x)
        ctx.beta = beta
        z = x * beta if beta != 1 else x
        small = xp.exp(-xp.abs(z))  # in (0, 1]
        y = xp.maximum(z, 0) + xp.log1p(small)
        if beta != 1:
            y /= beta
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(stable_sigmoid(z, small))
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (sigmoid_z,) = ctx.saved
        return (grad_y * sigmoid_z,)

    @staticmethod
    def backward_graph(ctx, grad_y):
        from chainrule.ops.elementwise import sigmoid

        return (grad_y * sigmoid(ctx.inputs[0] * ctx.beta),)


def stable_sigmoid(z: Array, small: Array) -> Array:
    """sigmoid(z) from ``small`` = e^-|z|: 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) below."""
    return (small + (z >= 0) * (1 - small)) / (1 + small)


# ------------------------------------------------------------ softmax family


class Softmax(Function):
    """y = e^x / sum(e^x) along ``axis``; the max is subtracted first so nothing overflows.

    dL/dx = y * (g - sum(g * y)), from the Jacobian diag(y) - y y^T.
    """

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = get_array_module(x)
        y = xp.exp(x - x.max(axis=axis, keepdims=True))
        y /= y.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        weighted = grad_y * y
        return (weighted - y * weighted.sum(axis=ctx.axis, keepdims=True),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        y = Softmax.apply(ctx.inputs[0], axis=ctx.axis)
        weighted = grad_y * y
        return (weighted - y * weighted.sum(axis=ctx.axis, keepdims=True),)


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``, shifted by the max; dL/dx = g - softmax(x) sum(g)."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        xp = get_array_module(grad_y)
        return (grad_y - xp.exp(y) * grad_y.sum(axis=ctx.axis, keepdims=True),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        p = Softmax.apply(ctx.inputs[0], axis=ctx.axis)
        return (grad_y - p * grad_y.sum(axis=ctx.axis, keepdims=True),)


# ------------------------------------------------------------------- GELU

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_APPROXIMATIONS = ("none", "tanh")


class NormalCDF(Function):
    """y = Phi(x) = erfc(-x / sqrt 2) / 2, the standard normal CDF; dy/dx = phi(x)."""

    @staticmethod
    def forward(ctx, x):
        return 0.5 * erfc(x * -_SQRT_HALF)

    @staticmethod
    def backward(ctx, grad_y):
        x = ctx.inputs[0].data
        xp = get_array_module(x)
        return (grad_y * _INV_SQRT_2PI * xp.exp(-0.5 * xp.minimum(x * x, 1e4)),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        return (grad_y * _normal_density(ctx.inputs[0]),)


def _normal_density(x: Tensor) -> Tensor:
    """phi(x) = e^(-x^2 / 2) / sqrt(2 pi), differentiably."""
    return (x * x * -0.5).exp() * _INV_SQRT_2PI


class GELUExact(Function):
    """y = x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2, the normal CDF; saves x and Phi,
    since dy/dx = Phi(x) + x phi(x), phi the normal density."""

    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * erfc(x * -_SQRT_HALF)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad_y):
        x, cdf = ctx.saved
        xp = get_array_module(x)
        density = _INV_SQRT_2PI * xp.exp(-0.5 * xp.minimum(x * x, 1e4))
        return (grad_y * (cdf + x * density),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0]
        return (grad_y * (NormalCDF.apply(x) + x * _normal_density(x)),)


class GELU(Function):
    """y = x Phi(x) in the tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x^3))),
    c = sqrt(2 / pi); the backward is that formula's exact derivative."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        t = xp.tanh(_GELU_C * (x + _GELU_K * x * x * x))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1 + t)

    @staticmethod
    def backward(ctx, grad_y):
        x, t = ctx.saved
        du_dx = _GELU_C * (1 + 3 * _GELU_K * x * x)
        return (grad_y * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx),)

    @staticmethod
    def backward_graph(ctx, grad_y):
        x = ctx.inputs[0]
        t = (_GELU_C * (x + _GELU_K * x * x * x)).tanh()
        du_dx = _GELU_C * (1 + 3 * _GELU_K * x * x)
        return (grad_y * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx),)


# ---------------------------------------------------------- radial basis units


class RBF(Function):
    """y[n, u] = exp(-||x_n - w_u||^2 / sigma_u^2) for x (N, D), w (U, D), sigma () or (U,).

    Squared distances by ||x||^2 - 2 x w^T + ||w||^2: one matmul, no (N, U, D) array;
    in float32 that costs accuracy once ||x||^2 / sigma^2 passes ~1e4 (use float64 there).
    """

    @staticmethod
    def forward(ctx, x, w, sigma):
        xp = get_array_module(x, w)
        cross = x @ w.T
        squared = (x * x).sum(axis=1)[:, None] - 2.0 * cross + (w * w).sum(axis=1)
        # NOTE: the expansion can dip just below 0 by rounding where x_n == w_u.
        distance2 = xp.maximum(squared, 0)
        y = xp.exp(-distance2 / (sigma * sigma))
        ctx.save_for_backward(x, w, sigma, distance2, y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, w, sigma, distance2, y = ctx.saved
        need_x, need_w, need_sigma = ctx.needs_input_grad
        # dy/dx_n = -2 y (x_n - w_u) / sigma^2, and the mirror image for w_u.
        a = grad_y * y / (sigma * sigma)  # (N, U)
        grad_x = 2.0 * (a @ w - a.sum(axis=1)[:, None] * x) if need_x else None
        grad_w = 2.0 * (a.T @ x - a.sum(axis=0)[:, None] * w) if need_w else None
        grad_sigma = (2.0 * a * distance2 / sigma).sum(axis=0) if need_sigma else None
        return grad_x, grad_w, grad_sigma

    @staticmethod
    def backward_graph(ctx, grad_y):

        def composite(x, w, sigma):
            squared = (
                (x * x).sum(axis=1).reshape(-1, 1) - 2.0 * matmul(x, w.T) + (w * w).sum(axis=1)
            )
            return (-squared / (sigma * sigma)).exp()

        return local_grads(ctx, grad_y, composite)


# ------------------------------------------------------------------- maxout


class Maxout(Function):
    """y = max over each group of ``num_pieces`` consecutive features on ``axis``; ties
    share the gradient evenly, as in max.

    NOTE: a running xp.maximum over the k pieces (a loop over pieces, like one over kernel
    offsets), not x.max over a length-k axis: NumPy reduces short axes ~20x slower.
    """

    @staticmethod
    def forward(ctx, x, num_pieces=2, axis=1):
        xp = get_array_module(x)
        pieces = _pieces(x, num_pieces, axis)
        y = pieces[0].copy()
        for piece in pieces[1:]:
            xp.maximum(y, piece, out=y)
        ctx.save_for_backward(x, y)
        ctx.num_pieces, ctx.axis = num_pieces, axis
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, y = ctx.saved
        xp = get_array_module(grad_y)
        wins = [piece == y for piece in _pieces(x, ctx.num_pieces, ctx.axis)]
        count = wins[0].astype(grad_y.dtype)
        for win in wins[1:]:
            count += win
        share = grad_y / count
        grad_x = xp.empty_like(x, dtype=grad_y.dtype)
        for win, grad_piece in zip(wins, _pieces(grad_x, ctx.num_pieces, ctx.axis)):
            xp.multiply(win, share, out=grad_piece)
        return (grad_x,)

    @staticmethod
    def backward_graph(ctx, grad_y):

        k, axis = ctx.num_pieces, ctx.axis

        def composite(x):
            shape = x.shape
            grouped = x.reshape((*shape[:axis], shape[axis] // k, k, *shape[axis + 1 :]))
            return grouped.max(axis=axis + 1)

        return local_grads(ctx, grad_y, composite)


def _pieces(x: Any, num_pieces: int, axis: int) -> list[Any]:
    """Views of x, one per piece j: the features j, j + k, j + 2k, ... of ``axis``."""
    shape = x.shape
    grouped = x.reshape((*shape[:axis], shape[axis] // num_pieces, num_pieces, *shape[axis + 1 :]))
    before = (slice(None),) * (axis + 1)
    return [grouped[(*before, j)] for j in range(num_pieces)]


# ------------------------------------------------------------- the functions


def leaky_relu(x: Tensor, alpha: float = 0.01) -> Tensor:
    """x where x > 0, else alpha x (gradient alpha at 0)."""
    return LeakyReLU.apply(as_tensor(x), alpha=check_number(alpha, "alpha", "leaky_relu"))


def prelu(x: Tensor, alpha: Tensor) -> Tensor:
    """Leaky ReLU with learned slopes: alpha (1,) shared, or (C,) one per channel of axis 1.

    x: (N, C, *) -> same shape.
    """
    x = as_tensor(x)
    alpha = as_tensor(alpha, x)
    if alpha.ndim != 1 or (alpha.shape[0] != 1 and (x.ndim < 2 or x.shape[1] != alpha.shape[0])):
        raise ShapeError(
            f"prelu: alpha of shape {alpha.shape} does not fit input of shape {x.shape}; "
            "expected (1,) or (C,) with C the size of the input's axis 1"
        )
    return PReLU.apply(x, alpha)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha (e^x - 1)."""
    return ELU.apply(as_tensor(x), alpha=check_number(alpha, "alpha", "elu"))


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, a smooth ReLU; stable for any |x|."""
    beta = check_number(beta, "beta", "softplus")
    if beta <= 0:
        raise ArgumentError(f"softplus: beta must be positive; got beta={beta}")
    return Softplus.apply(as_tensor(x), beta=beta)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; gradient 1 inside, 0 outside."""
    min_val = check_number(min_val, "min_val", "hardtanh", finite=False)
    max_val = check_number(max_val, "max_val", "hardtanh", finite=False)
    if not min_val < max_val:
        raise ArgumentError(
            f"hardtanh: min_val must be below max_val; got min_val={min_val}, max_val={max_val}"
        )
    return clip(x, min_val, max_val)


def abs_rectify(x: Tensor) -> Tensor:
    """Absolute value rectification g(z) = |z| (Goodfellow et al., 6.3.1); gradient 0 at 0."""
    return abs(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along ``axis``: entries in (0, 1] summing to 1; same shape as x."""
    x = as_tensor(x)
    return Softmax.apply(x, axis=_single_axis(axis, x, "softmax"))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, without ever taking the log of a rounded-off 0."""
    x = as_tensor(x)
    return LogSoftmax.apply(x, axis=_single_axis(axis, x, "log_softmax"))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x Phi(x), Phi the normal CDF; as in PyTorch,
    ``approximate="none"`` is the exact erf form and ``"tanh"`` the tanh approximation
    (within 5e-4 of it everywhere, and cheaper)."""
    if approximate not in GELU_APPROXIMATIONS:
        raise ArgumentError(
            f"gelu: approximate must be 'none' or 'tanh'; got approximate={approximate!r}"
        )
    return (GELU if approximate == "tanh" else GELUExact).apply(as_tensor(x))


def rbf(x: Tensor, w: Tensor, sigma: float | Tensor = 1.0) -> Tensor:
    """Radial basis units exp(-||w_u - x_n||^2 / sigma_u^2): x (N, D), centres w (U, D),
    width sigma a number, a 0-d tensor or (U,) -> (N, U)."""
    x = as_tensor(x)
    w = as_tensor(w, x)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"rbf: input of shape {x.shape} does not fit centres of shape {w.shape}; "
            "expected x (N, D) and w (U, D)"
        )
    if not isinstance(sigma, Tensor):
        sigma = check_number(sigma, "sigma", "rbf")
        if sigma <= 0:
            raise ArgumentError(f"rbf: sigma must be positive; got sigma={sigma}")
    sigma = as_tensor(sigma, x)
    if sigma.shape not in ((), (w.shape[0],)):
        raise ShapeError(
            f"rbf: sigma of shape {sigma.shape} does not fit {w.shape[0]} centres; "
            f"expected () or ({w.shape[0]},)"
        )
    return RBF.apply(x, w, sigma)


def maxout(x: Tensor, num_pieces: int, axis: int = 1) -> Tensor:
    """Max over groups of ``num_pieces`` consecutive features along ``axis``:
    (N, F, *) -> (N, F / num_pieces, *). Ties share the gradient evenly."""
    x = as_tensor(x)
    num_pieces = check_positive_int(num_pieces, "num_pieces", "maxout")
    a = _single_axis(axis, x, "maxout")
    features = x.shape[a]
    if features % num_pieces:
        raise ShapeError(
            f"maxout: input of shape {x.shape} has {features} features on axis {axis}, "
            f"not a multiple of num_pieces={num_pieces}"
        )
    return Maxout.apply(x, num_pieces=num_pieces, axis=a)


def _single_axis(axis: int, x: Tensor, op: str) -> int:
    if x.ndim == 0:
        raise ShapeError(f"{op}: needs a tensor with at least one axis; got shape {x.shape}")
    return normalize_single_axis(axis, x.ndim, op)
