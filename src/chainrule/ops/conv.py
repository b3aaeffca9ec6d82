"""2-D convolution as im2col + one matrix product."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, TensorLike
from chainrule.backend import Array, get_array_module
from chainrule.backend.kernels import ascontiguous, col2im, im2col, workspace
from chainrule.errors import ShapeError
from chainrule.ops._operands import as_tensor
from chainrule.ops._windows import Pair, as_pair, check_window_fits, crop_spatial

KEEP_COLUMNS_BYTES = 1 << 21  # columns up to 2 MiB are kept from forward to backward


def to_batch_last(x: Array, padding: Pair) -> Array:
    """x (N, C, H, W) as a C-contiguous (C, H + 2 ph, W + 2 pw, N) array, zero-padded.

    Free (a view) when x is the (N, C, H, W) view of such an array and there is no
    padding, as every conv's output is; one copy otherwise.
    """
    xp = get_array_module(x)
    xc = x.transpose(1, 2, 3, 0)
    ph, pw = padding
    if ph == 0 and pw == 0:
        return ascontiguous(xc)
    c, h, w, n = xc.shape
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    padded[:, ph : ph + h, pw : pw + w] = xc
    return padded


BAND_BYTES = 1 << 24  # a forward GEMM's columns at most (16 MiB): the rest, band by band


def _band_rows(row_bytes: int, ho: int) -> int:
    """Output rows per band: columns of at most ``BAND_BYTES`` (at least one row)."""
    return max(1, min(ho, BAND_BYTES // max(row_bytes, 1)))


K_CHUNK = 1024  # columns per GEMM when the weight gradient's inner dimension is long


def times_transposed(g: Array, cols: Array) -> Array:
    """g (F, K) @ cols.T (K, R): a conv's weight gradient, K = H'*W'*N the long axis.

    OpenBLAS is slow at this long-K, small-output shape as one call (measured, 2 threads:
    F 20, R 25, K 5,760 took 172 us as one GEMM, 88 us in chunks of 1,024 along K; for
    R >= 64 the product taken the other way round, (cols @ g.T).T, was 15-20% faster). On
    CuPy: one GEMM.
    """
    xp = get_array_module(g)
    k = g.shape[1]
    if xp.__name__ != "numpy":
        return g @ cols.T
    if cols.shape[0] < 64 and k > 2 * K_CHUNK:
        out = g[:, :K_CHUNK] @ cols[:, :K_CHUNK].T
        for start in range(K_CHUNK, k, K_CHUNK):
            out += g[:, start : start + K_CHUNK] @ cols[:, start : start + K_CHUNK].T
        return out
    return (cols @ g.T).T


class Conv2d(Function):
    """y[n, f] = b[f] + sum_c w[f, c] (*) x[n, c]: (N, C, H, W) -> (N, F, H', W').

    Works on x's (C, H, W, N) layout: im2col turns it into columns (C*kh*kw, H'*W'*N) and
    one GEMM w (F, C*kh*kw) @ columns gives (F, H'*W'*N). y is returned as an
    (N, F, H', W') view of that array: the next conv gets its (C, H, W, N) layout for
    free, pooling windows are strided views with the batch as the contiguous inner
    axis, and flattening for a dense layer needs no copy. Backward is two more GEMMs,
    dw = dy @ columns^T and dcolumns = w^T @ dy, then col2im (one add per kernel
    offset) sums dcolumns back onto dx.

    Memory: the columns (kh*kw times x's size) live in a reused workspace only while
    an op runs (forward: a band of output rows at a time past ``BAND_BYTES``); backward rebuilds them from the saved x rather than keeping them from
    forward to backward: one more copy, for a fraction of the peak memory. Columns of
    at most ``KEEP_COLUMNS_BYTES`` are kept instead (then the saved "x" is the columns).
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
        xp = get_array_module(x)
        f, c, kh, kw = weight.shape
        xc = to_batch_last(x, padding)  # (C, H + 2p, W + 2p, N)
        ho, wo = (xc.shape[1] - kh) // stride[0] + 1, (xc.shape[2] - kw) // stride[1] + 1
        n = x.shape[0]
        rows, width = c * kh * kw, ho * wo * n
        # Small columns (a mini-batch of 10) are kept for backward, sparing it an im2col;
        # large ones live in the workspace and backward rebuilds them (peak memory).
        keep = ctx.needs_input_grad[1] and rows * width * x.itemsize <= KEEP_COLUMNS_BYTES
        weight = xp.ascontiguousarray(weight)  # BLAS-ready even if a view was passed
        w2 = weight.reshape(f, rows)
        y = xp.empty((f, ho * wo * n), dtype=x.dtype)
        if keep:
            cols = im2col(xc, (kh, kw), stride)
            xp.matmul(w2, cols, out=y)
        else:  # bands of output rows, each band's columns in the workspace
            band = ho if xp.__name__ != "numpy" else _band_rows(rows * wo * n * x.itemsize, ho)
            y4 = y.reshape(f, ho, wo, n)
            for a0 in range(0, ho, band):
                a1 = min(a0 + band, ho)
                part = xc[:, a0 * stride[0] : (a1 - 1) * stride[0] + kh]
                shape = (rows, (a1 - a0) * wo * n)
                cols = im2col(part, (kh, kw), stride, out=workspace(shape, x.dtype, x))
                xp.matmul(w2, cols, out=y4[:, a0:a1].reshape(f, -1))  # a row-strided view
        if bias is not None:
            y += bias[:, None]  # y is fresh from the GEMM: adding in place saves a pass
        ctx.geometry = (xc.shape, (kh, kw), stride, padding)
        ctx.save_for_backward(
            (cols if keep else xc) if ctx.needs_input_grad[1] else None,
            weight if ctx.needs_input_grad[0] else None,
        )
        ctx.kept_columns = keep
        return y.reshape(f, ho, wo, n).transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, grad_y):
        xc, weight = ctx.saved
        padded_shape, kernel, stride, padding = ctx.geometry
        need = ctx.needs_input_grad
        xp = get_array_module(grad_y)
        f = grad_y.shape[1]
        # NOTE: free when grad_y is laid out (F, H', W', N), as the forward left it. Keep
        # the copy: a plain reshape of a broadcast gradient (from .sum()) is a zero-stride
        # view, which NumPy's matmul cannot hand to BLAS (3x slower).
        g = ascontiguous(grad_y.transpose(1, 2, 3, 0)).reshape(f, -1)
        rows = padded_shape[0] * kernel[0] * kernel[1]
        grad_x = grad_w = grad_b = None
        if need[1]:  # first: the columns' workspace is then free for dcolumns
            cols = (
                xc
                if ctx.kept_columns
                else im2col(xc, kernel, stride, out=workspace((rows, g.shape[1]), g.dtype, g))
            )
            grad_w = times_transposed(g, cols).reshape(f, padded_shape[0], *kernel)
        if need[0]:
            grad_cols = workspace((rows, g.shape[1]), g.dtype, g)
            xp.matmul(weight.reshape(f, -1).T, g, out=grad_cols)
            grad_xc = col2im(grad_cols, padded_shape, kernel, stride)
            grad_x = crop_spatial(grad_xc.transpose(3, 0, 1, 2), padding)
        if len(need) > 2 and need[2]:
            grad_b = g.sum(axis=1)
        return grad_x, grad_w, grad_b

    @staticmethod
    def backward_graph(ctx, grad_y):
        x, weight = ctx.inputs[:2]
        _, kernel, stride, padding = ctx.geometry
        need = ctx.needs_input_grad
        geometry = dict(stride=stride, padding=padding)
        grad_x = (
            ConvInputGrad.apply(grad_y, weight, x_shape=x.shape, **geometry) if need[0] else None
        )
        grad_w = ConvWeightGrad.apply(x, grad_y, kernel=kernel, **geometry) if need[1] else None
        grad_b = grad_y.sum(axis=(0, 2, 3)) if len(need) > 2 and need[2] else None
        return grad_x, grad_w, grad_b


# ------------------------------------------- the convolution's gradients, as ops
# dL/dx and dL/dw of a convolution are themselves (transposed) convolutions, bilinear in
# their two inputs; as ops they let a gradient through conv2d be differentiated again,
# each one's gradients being the other two (and conv2d itself).


def conv_forward(x: Any, weight: Any, stride: Pair, padding: Pair) -> Any:
    """conv2d on arrays, without a bias: x (N, C, H, W), weight (F, C, kh, kw) -> (N, F, H', W')."""
    xp = get_array_module(x)
    f, _, kh, kw = weight.shape
    xc = to_batch_last(x, padding)
    ho, wo = (xc.shape[1] - kh) // stride[0] + 1, (xc.shape[2] - kw) // stride[1] + 1
    cols = im2col(xc, (kh, kw), stride)
    y = xp.ascontiguousarray(weight).reshape(f, -1) @ cols
    return y.reshape(f, ho, wo, x.shape[0]).transpose(3, 0, 1, 2)


def conv_input_grad(
    grad_y: Array, weight: Array, x_shape: tuple[int, ...], stride: Pair, padding: Pair
) -> Array:
    """dL/dx of conv2d (a transposed convolution): grad_y (N, F, H', W') -> x_shape."""
    xp = get_array_module(grad_y)
    f, c, kh, kw = weight.shape
    n, _, h, w = x_shape
    g = xp.ascontiguousarray(grad_y.transpose(1, 2, 3, 0)).reshape(f, -1)
    cols = xp.ascontiguousarray(weight).reshape(f, -1).T @ g
    padded_shape = (c, h + 2 * padding[0], w + 2 * padding[1], n)
    grad_xc = col2im(cols, padded_shape, (kh, kw), stride)
    return crop_spatial(grad_xc.transpose(3, 0, 1, 2), padding)


def conv_weight_grad(x: Array, grad_y: Array, kernel: Pair, stride: Pair, padding: Pair) -> Array:
    """dL/dweight of conv2d: x (N, C, H, W), grad_y (N, F, H', W') -> (F, C, kh, kw)."""
    xp = get_array_module(x)
    f = grad_y.shape[1]
    g = xp.ascontiguousarray(grad_y.transpose(1, 2, 3, 0)).reshape(f, -1)
    cols = im2col(to_batch_last(x, padding), kernel, stride)
    return times_transposed(g, cols).reshape(f, x.shape[1], *kernel)


class ConvInputGrad(Function):
    """y = conv2d's dL/dx for upstream gradient g and weight w (a transposed convolution).

    Bilinear: <ybar, y> = <conv2d(ybar, w), g>, so dL/dg = conv2d(ybar, w) and dL/dw is
    conv2d's weight gradient for input ybar and upstream gradient g.
    """

    @staticmethod
    def forward(ctx, g, weight, x_shape=(), stride=(1, 1), padding=(0, 0)):
        ctx.geometry = (weight.shape[2:], stride, padding)
        ctx.save_for_backward(g, weight)
        return conv_input_grad(g, weight, x_shape, stride, padding)

    @staticmethod
    def backward(ctx, grad_y):
        g, weight = ctx.saved
        kernel, stride, padding = ctx.geometry
        need_g, need_w = ctx.needs_input_grad
        grad_g = conv_forward(grad_y, weight, stride, padding) if need_g else None
        grad_w = conv_weight_grad(grad_y, g, kernel, stride, padding) if need_w else None
        return grad_g, grad_w

    @staticmethod
    def backward_graph(ctx, grad_y):
        g, weight = ctx.inputs
        kernel, stride, padding = ctx.geometry
        need_g, need_w = ctx.needs_input_grad
        geometry = dict(stride=stride, padding=padding)
        grad_g = Conv2d.apply(grad_y, weight, **geometry) if need_g else None
        grad_w = ConvWeightGrad.apply(grad_y, g, kernel=kernel, **geometry) if need_w else None
        return grad_g, grad_w


class ConvWeightGrad(Function):
    """y = conv2d's dL/dw for input x and upstream gradient g.

    Bilinear: <ybar, y> = <conv2d(x, ybar), g>, so dL/dx = conv2d's input gradient of g
    through the weight ybar, and dL/dg = conv2d(x, ybar).
    """

    @staticmethod
    def forward(ctx, x, g, kernel=(1, 1), stride=(1, 1), padding=(0, 0)):
        ctx.geometry = (x.shape, stride, padding)
        ctx.save_for_backward(x, g)
        return conv_weight_grad(x, g, kernel, stride, padding)

    @staticmethod
    def backward(ctx, grad_y):
        x, g = ctx.saved
        x_shape, stride, padding = ctx.geometry
        need_x, need_g = ctx.needs_input_grad
        grad_x = conv_input_grad(g, grad_y, x_shape, stride, padding) if need_x else None
        grad_g = conv_forward(x, grad_y, stride, padding) if need_g else None
        return grad_x, grad_g

    @staticmethod
    def backward_graph(ctx, grad_y):
        x, g = ctx.inputs
        x_shape, stride, padding = ctx.geometry
        need_x, need_g = ctx.needs_input_grad
        geometry = dict(stride=stride, padding=padding)
        grad_x = ConvInputGrad.apply(g, grad_y, x_shape=x_shape, **geometry) if need_x else None
        grad_g = Conv2d.apply(x, grad_y, **geometry) if need_g else None
        return grad_x, grad_g


def check_conv2d(x: TensorLike, weight: Tensor, padding: Pair, where: str) -> Tensor:
    """x as a tensor, if it fits ``weight`` (F, C, kh, kw): x (N, C, H, W) with the kernel
    fitting the padded H and W; else a ShapeError that names ``where`` (the op, or the
    layer that forwards through it)."""
    x = as_tensor(x)
    if weight.ndim != 4:
        raise ShapeError(f"{where}: weight must be 4-D (F, C, kh, kw); got shape {weight.shape}")
    c, kh, kw = weight.shape[1:]
    if x.ndim != 4 or x.shape[1] != c:
        raise ShapeError(f"{where} got input of shape {tuple(x.shape)}; expected (N, {c}, H, W)")
    check_window_fits(x.shape, (kh, kw), padding, where)
    return x


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (F, C, kh, kw), bias (F,) -> (N, F, H', W').

    H' = floor((H + 2 padding - kh) / stride) + 1, likewise W'; padding adds zeros.
    """
    stride = as_pair(stride, "stride", "conv2d")
    padding = as_pair(padding, "padding", "conv2d", minimum=0)
    x = check_conv2d(x, weight, padding, f"conv2d with weight of shape {tuple(weight.shape)}")
    if bias is None:
        return Conv2d.apply(x, weight, stride=stride, padding=padding)
    f = weight.shape[0]
    if tuple(bias.shape) != (f,):
        raise ShapeError(f"conv2d: bias must have shape ({f},); got {tuple(bias.shape)}")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding)
