"""The few kernels whose code differs between NumPy and CuPy."""

from __future__ import annotations

import threading

import numpy

from chainrule.backend import jit
from chainrule.backend.arrays import Array, DTypeLike, get_array_module
from chainrule.backend.random import bits_threshold

_local = threading.local()
PoolSaved = tuple[Array, str, tuple[int, ...]]  # (argmax, layout, x.shape) for backward
# NOTE: the compiled pooling loops run along the batch, vectorised 16 floats wide: below 16
# images (and for plain NCHW) the array path is faster (mini-batch 10, 20 x 24 x 24 maps,
# forward and backward: 338/323/333/332 us compiled, 273/281/288/271 us array)
POOL_MIN_BATCH = 16
# The branch-free 2x2 kernel from 8 images (forward and backward, 20 maps of 24 x 24, us:
# 8 images 244/212 compiled, 341/387 array; 10: 301/310 against 446/592; 6: 602/389
# against 304/338)
USUAL_POOL_MIN_BATCH = 8
WORKSPACE_LIMIT = 1 << 28  # bytes (256 MiB) a thread's workspace may keep between calls


# What cupyx.scatter_add accepts when the index holds an integer array: the dtypes of
# CUDA's atomicAdd, per CuPy's documentation (float32, int32, uint32, uint64).
SCATTER_ADD_DTYPES = frozenset(numpy.dtype(t) for t in ("float32", "int32", "uint32", "uint64"))


def index_add(target: Array, index: Array | tuple[Array, ...], values: Array) -> None:
    """target[index] += values, adding repeatedly where an index repeats (in place).

    On CuPy, ``cupyx.scatter_add`` for the dtypes it accepts; any other dtype (float64,
    float16) adds up in float64 with ``bincount`` over the flat positions ``index``
    selects, then is cast back: exact for float64, and at least as exact as float16.
    """
    xp = get_array_module(target)
    if xp is numpy:
        numpy.add.at(target, index, values)
    elif target.dtype in SCATTER_ADD_DTYPES:
        import cupyx  # optional: CuPy, only on a GPU

        cupyx.scatter_add(target, index, values)
    else:
        positions = xp.arange(target.size).reshape(target.shape)[index]
        weights = xp.broadcast_to(values, positions.shape).reshape(-1)
        sums = xp.bincount(positions.reshape(-1), weights=weights, minlength=target.size)
        target += sums.reshape(target.shape).astype(target.dtype, copy=False)


def as_strided(x: Array, shape: tuple[int, ...], strides: tuple[int, ...]) -> Array:
    """A read-only view of x's memory with the given shape and strides (in bytes)."""
    xp = get_array_module(x)
    if xp is numpy:
        return numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    from cupy.lib.stride_tricks import as_strided as cupy_as_strided  # pragma: no cover

    return cupy_as_strided(x, shape, strides)  # pragma: no cover


def workspace(shape: tuple[int, ...], dtype: DTypeLike, like: Array) -> Array:
    """A reusable array of ``shape`` on ``like``'s device (contents undefined).

    One flat buffer per thread, dtype and device, grown to the largest request and
    shared by every caller: it holds an op's transient columns (im2col, a GEMM's result)
    *within one call*, never across calls. Reusing it spares the page faults of a fresh
    multi-megabyte array every step (they can cost more than the arithmetic). A request
    over ``WORKSPACE_LIMIT`` bytes (a huge inference batch) gets a fresh array instead, so
    one such call does not hold that memory for the rest of the process.
    """
    xp = get_array_module(like)
    buffers = getattr(_local, "workspaces", None)
    if buffers is None:
        buffers = _local.workspaces = {}
    key = (xp.__name__, numpy.dtype(dtype).str)
    size = 1
    for n in shape:
        size *= n
    if size * numpy.dtype(dtype).itemsize > WORKSPACE_LIMIT:
        return xp.empty(shape, dtype)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = None  # free the old one first
        buf = buffers[key] = xp.empty(size, dtype)
    return buf[:size].reshape(shape)


def im2col(
    x: Array, kernel: tuple[int, int], stride: tuple[int, int], out: Array | None = None
) -> Array:
    """Every kernel-sized window of x (C, H, W, N) as one column: (C*kh*kw, H'*W'*N).

    Row (c, i, j), column (h', w', n) holds x[c, h'*sh + i, w'*sw + j, n]. One copy out
    of a strided view; with the batch axis last, its inner runs are whole image rows of
    the batch (W'*N numbers when the stride is 1), so it streams. ``out``: a
    C-contiguous array of the result's shape to write into (e.g. a ``workspace``).
    """
    c, h, w, n = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    xp = get_array_module(x)
    if out is None:
        out = xp.empty((c * kh * kw, ho * wo * n), dtype=x.dtype)
    # NOTE: a plain copy: NumPy's strided copy was as fast as a compiled loop here.
    s_c, s_h, s_w, s_n = x.strides
    windows = as_strided(x, (c, kh, kw, ho, wo, n), (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n))
    out.reshape(c, kh, kw, ho, wo, n)[...] = windows
    return out


def col2im(
    cols: Array,
    shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> Array:
    """The adjoint of ``im2col``: sum columns (C*kh*kw, H'*W'*N) back into (C, H, W, N).

    One strided add per kernel offset (kh*kw of them); overlapping windows add up.
    (Compiled: one pass over the result, each entry summing the columns that hold it.)
    """
    xp = get_array_module(cols)
    c, h, w, n = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = cols.reshape(c, kh, kw, ho, wo, n)
    # NOTE: the compiled gather loops along the batch: worth it once its runs are long;
    # below 32 images a compiled scatter (measured at mini-batch 10: 1.5-1.8x NumPy's
    # adds), and below 64 at stride 1, where its runs are whole rows (32 images, 32 maps
    # of 26x26, 3x3: 1.2-1.3 ms against the gather's 2.3-2.7 ms; level at 64)
    if jit.usable(cols) and cols.size >= jit.PARALLEL_MIN:
        x = xp.empty(shape, dtype=cols.dtype)
        scatter = n < 32 or (sw == 1 and n < 64)
        (jit.compiled().col2im_scatter if scatter else jit.compiled().col2im)(windows, sh, sw, x)
        return x
    x = xp.zeros(shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            x[:, i : i + sh * ho : sh, j : j + sw * wo : sw] += windows[:, i, j]
    return x


def memory_order(a: Array) -> list[int] | None:
    """a's axes from the slowest-varying in memory to the fastest if a is one dense block
    in that order (as the (N, C, H, W) views of a conv's (C, H, W, N) output are), else None."""
    order = sorted(range(a.ndim), key=lambda axis: -a.strides[axis])
    return order if a.transpose(order).flags.c_contiguous else None


def dense_flat(a: Array) -> Array | None:
    """A 1-D view of a's memory if a is one dense block in any axis order, else None."""
    order = memory_order(a)
    return None if order is None else a.transpose(order).reshape(-1)


def ascontiguous(a: Array) -> Array:
    """a in C order: a itself if it is, else a copy (``numpy.ascontiguousarray``).

    Compiled, when a is a dense block whose axes lie in memory in a rotated order (a
    conv's (C, H, W, N) output seen as (N, C, H, W), or the reverse): the copy is a 2-D
    transpose, done in cache-sized tiles (measured 4-6x NumPy's strided copy at the CNN's
    (9,216 x 128) and (21,632 x 128)).
    """
    if a.flags.c_contiguous:
        return a
    xp = get_array_module(a)
    if a.size >= jit.PARALLEL_MIN and jit.usable(a, contiguous=False):
        order = memory_order(a)
        k = order[0] if order else 0
        if order is not None and k > 0 and order == [*range(k, a.ndim), *range(k)]:
            rows = cols = 1
            for n in a.shape[:k]:
                rows *= n
            for n in a.shape[k:]:
                cols *= n
            out = numpy.empty(a.shape, a.dtype)
            jit.compiled().transpose(
                a.transpose(order).reshape(cols, rows), out.reshape(rows, cols)
            )
            return out
    return xp.ascontiguousarray(a)


def _same_layout(*arrays: Array) -> bool:
    first = arrays[0]
    return all(a.shape == first.shape and a.strides == first.strides for a in arrays)


def relu_backward(grad: Array, y: Array) -> Array:
    """grad where y > 0, else 0 (times 0, so a NaN gradient stays NaN): a fresh array."""
    if (
        grad.size >= jit.PARALLEL_MIN
        and jit.usable(grad, y, contiguous=False)
        and _same_layout(grad, y)
    ):
        out = numpy.empty_like(grad)  # y's layout too
        flat = [dense_flat(a) for a in (grad, y, out)]
        if all(f is not None for f in flat):
            jit.compiled().relu_backward(*flat)
            return out
    return grad * (y > 0)


def dropout(x: Array, draws: Array, p: float) -> tuple[Array, Array]:
    """(y, mask) of inverted dropout: mask = keep / (1 - p) in x's dtype, y = x * mask.

    ``draws`` (x's shape, C order): uint32 random bits (``random.random_bits``), kept where
    >= ``random.bits_threshold(p)``; or, on a GPU, float32 uniforms kept where >= p.
    Compiled: one pass instead of four (compare, cast, scale, multiply), bit for bit.
    """
    threshold = bits_threshold(p) if draws.dtype == numpy.uint32 else p
    if (
        x.size >= jit.PARALLEL_MIN
        and jit.usable(x, contiguous=False)
        and type(draws) is numpy.ndarray
        and draws.dtype == numpy.uint32
        and draws.flags.c_contiguous
    ):
        # NOTE: y and mask in C order even for a conv's batch-last output: the copy that
        # a following flatten would make anyway, and backward's grad * mask then streams
        x = ascontiguous(x)
        y, mask = numpy.empty_like(x), numpy.empty_like(x)
        scale = x.dtype.type(1.0 / (1.0 - p))  # as the array path casts it (NEP 50)
        flat = [a.reshape(-1) for a in (draws, x, y, mask)]
        jit.compiled().dropout(flat[0], numpy.uint32(threshold), scale, *flat[1:])
        return y, mask
    mask = (draws >= threshold).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask, mask


def _as_ahwb(x: Array) -> tuple[Array, str] | None:
    """x (N, C, H, W) as a C-contiguous (A, H, W, B) view for the compiled pooling loops:
    (C, H, W, N) for a conv's batch-last output, (N*C, H, W, 1) for plain NCHW."""
    n, c, h, w = x.shape
    t = x.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous:
        return t, "batch-last"
    if x.flags.c_contiguous:
        return x.reshape(n * c, h, w, 1), "nchw"
    return None


def _from_ahwb(a: Array, layout: str, n: int, c: int) -> Array:
    """The (N, C, H', W') view of an (A, H', W', B) result, inverse of ``_as_ahwb``."""
    if layout == "batch-last":
        return a.transpose(3, 0, 1, 2)
    return a.reshape(n, c, a.shape[1], a.shape[2])


def max_pool_compiled(
    x: Array, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[Array, PoolSaved] | None:
    """The compiled max-pool forward: (y, saved state for backward), or None when the
    compiled kernels cannot take x (the caller then uses the array path)."""
    # The usual pool (2x2, stride 2, unpadded) has a branch-free kernel, faster than the
    # array path at any size from 8 images on; the general kernel from 16 and 2^15 numbers.
    usual = kernel == (2, 2) and stride == (2, 2) and padding == (0, 0)
    if not (jit.usable(x, contiguous=False) and (usual or x.size >= jit.PARALLEL_MIN)):
        return None
    if kernel[0] * kernel[1] > 32767:  # argmax is int16
        return None
    view = _as_ahwb(x)
    if view is None:
        return None
    xa, layout = view
    if xa.shape[3] < (USUAL_POOL_MIN_BATCH if usual else POOL_MIN_BATCH):
        return None
    n, c, h, w = x.shape
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    y = numpy.empty((xa.shape[0], ho, wo, xa.shape[3]), x.dtype)
    argmax = numpy.empty(y.shape, numpy.int16)
    if usual:
        jit.compiled().max_pool_2x2(xa, y, argmax)
    else:
        jit.compiled().max_pool(xa, *kernel, *stride, *padding, y, argmax)
    return _from_ahwb(y, layout, n, c), (argmax, layout, x.shape)


def max_pool_backward_compiled(
    grad_y: Array,
    saved: PoolSaved,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> Array:
    """dL/dx of ``max_pool_compiled``: each window's gradient at its first maximum."""
    argmax, layout, shape = saved
    n, c, h, w = shape
    g = _as_ahwb(grad_y)
    if g is None or g[1] != layout:  # another layout than the forward's: one copy
        if layout == "batch-last":
            g = (ascontiguous(grad_y.transpose(1, 2, 3, 0)), layout)
        else:
            g = (numpy.ascontiguousarray(grad_y).reshape(n * c, *grad_y.shape[2:], 1), layout)
    grad_x = numpy.empty((argmax.shape[0], h, w, argmax.shape[3]), grad_y.dtype)
    jit.compiled().max_pool_backward(g[0], argmax, *kernel, *stride, *padding, grad_x)
    return _from_ahwb(grad_x, layout, n, c)
