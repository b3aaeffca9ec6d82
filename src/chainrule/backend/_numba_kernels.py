"""Compiled (numba) versions of the hot-path kernels, imported only when numba is installed.

Each is one single-threaded pass over flat, C-contiguous arrays and does, element by
element, exactly the operations of its NumPy reference (``backend.fused``,
``backend.kernels``) in the same order, so the two round alike. Arguments are
already-cast scalars of the arrays' dtype.
"""

from __future__ import annotations

import math

from numba import prange

from chainrule.backend.jit import njit

# NOTE: single-threaded on purpose. A parallel region needs every worker thread awake,
# while OpenBLAS's threads keep spinning on the same cores after each GEMM: measured on
# 2 cores, a 2-thread numba ReLU backward turned a 4 ms MLP step into 24 ms. One pass
# instead of NumPy's several is the gain; the GEMMs keep both cores. Within that one
# thread the loops vectorise (AVX), since jit.njit uses NumPy's division semantics.


@njit()
def adam(p, g, s, r, max_r, rho1, c1, rho2, c2, eps, step_size, bc2_sqrt, wd):  # pragma: no cover
    amsgrad = max_r.size > 0
    for i in prange(p.size):
        gi = g[i]
        if wd != 0:
            gi = g[i] + p[i] * wd
        si = s[i] * rho1 + gi * c1
        ri = r[i] * rho2 + (gi * gi) * c2
        s[i] = si
        r[i] = ri
        if amsgrad:
            if max_r[i] > ri or math.isnan(max_r[i]):
                ri = max_r[i]
            max_r[i] = ri
        p[i] = p[i] - (si / (math.sqrt(ri) / bc2_sqrt + eps)) * step_size


@njit()
def sgd(p, g, v, lr, mu, damp1, wd, nesterov, first):  # pragma: no cover
    momentum = v.size > 0
    for i in prange(p.size):
        gi = g[i]
        if wd != 0:
            gi = g[i] + p[i] * wd
        if momentum:
            vi = gi if first else v[i] * mu + gi * damp1
            v[i] = vi
            gi = gi + vi * mu if nesterov else vi
        p[i] = p[i] - gi * lr


@njit()
def adadelta(p, g, r, u, lr, rho, c, eps, wd):  # pragma: no cover
    for i in prange(p.size):
        gi = g[i]
        if wd != 0:
            gi = g[i] + p[i] * wd
        ri = r[i] * rho + (gi * gi) * c
        r[i] = ri
        dx = (math.sqrt(u[i] + eps) / math.sqrt(ri + eps)) * gi
        u[i] = u[i] * rho + (dx * dx) * c
        p[i] = p[i] - dx * lr


@njit()
def col2im(windows, sh, sw, x):  # pragma: no cover
    """x[c, h, w, n] = sum of windows[c, i, j, h', w', n] over h'*sh + i = h, w'*sw + j = w.

    A gather: each entry of x is written once by one thread (no zero-fill pass, no
    races); the kernel offsets are added in im2col's row-major order, as NumPy's are.
    """
    c, kh, kw, ho, wo, n = windows.shape
    h, w = x.shape[1], x.shape[2]
    for t in prange(c * h):
        ci = t // h
        row = t % h
        for col in range(w):
            dst = x[ci, row, col]
            for k in range(n):
                dst[k] = 0
            for i in range(kh):
                a = row - i
                if a < 0 or a % sh != 0 or a // sh >= ho:
                    continue
                for j in range(kw):
                    b = col - j
                    if b < 0 or b % sw != 0 or b // sw >= wo:
                        continue
                    src = windows[ci, i, j, a // sh, b // sw]
                    for k in range(n):
                        dst[k] += src[k]


@njit()
def col2im_scatter(windows, sh, sw, x):  # pragma: no cover
    """The same sums as ``col2im`` for a short batch: x zeroed, then each column added
    onto its window (kernel offsets in row-major order, as NumPy's adds are), reading
    the columns once in order. The gather's inner runs are the batch: too short below 32.
    At stride 1 along W the adds run over whole window rows (W'*N numbers, not N):
    measured at mini-batch 10 (conv 20 -> 40, 5x5, 12x12 maps) 78 us against 343 us."""
    c, kh, kw, ho, wo, n = windows.shape
    x[...] = 0
    if sw == 1:  # a window row's (W', N) and x's (W, N) are one contiguous run each
        run = wo * n
        src = windows.reshape(c, kh, kw, ho, run)
        dst = x.reshape(c, x.shape[1], x.shape[2] * n)
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    for a in range(ho):
                        d = dst[ci, a * sh + i, j * n : j * n + run]
                        s = src[ci, i, j, a]
                        for k in range(run):
                            d[k] += s[k]
        return
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for a in range(ho):
                    row = a * sh + i
                    for b in range(wo):
                        col = b * sw + j
                        for k in range(n):
                            x[ci, row, col, k] += windows[ci, i, j, a, b, k]


@njit()
def relu_backward(grad, y, out):  # pragma: no cover
    one = grad.dtype.type(1)
    zero = grad.dtype.type(0)
    for i in prange(grad.size):
        out[i] = grad[i] * (one if y[i] > 0 else zero)


@njit()
def transpose(src, dst):  # pragma: no cover
    """dst (C, R) = src (R, C).T in 32 x 32 tiles: each tile's rows and columns stay in
    cache, where one strided sweep (NumPy's copy) misses on every element."""
    r, c = src.shape
    for i0 in range(0, r, 32):
        i1 = min(i0 + 32, r)
        for j0 in range(0, c, 32):
            j1 = min(j0 + 32, c)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    dst[j, i] = src[i, j]


@njit()
def dropout(bits, threshold, scale, x, y, mask):  # pragma: no cover
    zero = x.dtype.type(0)
    for i in prange(x.size):
        m = scale if bits[i] >= threshold else zero
        mask[i] = m
        y[i] = x[i] * m


@njit()
def max_pool(x, kh, kw, sh, sw, ph, pw, y, argmax):  # pragma: no cover
    """y[a, h', w', b] = max over the window of x (A, H, W, B), padding never winning;
    argmax holds the window offset i*kw + j of the first maximum (a NaN wins, as in
    PyTorch). The inner loops run along B, contiguous in every array."""
    na, h, w, nb = x.shape
    ho, wo = y.shape[1], y.shape[2]
    for a in prange(na):
        for r in range(ho):
            for c in range(wo):
                yrow = y[a, r, c]
                arow = argmax[a, r, c]
                first = True
                for i in range(kh):
                    hh = r * sh - ph + i
                    if hh < 0 or hh >= h:
                        continue
                    for j in range(kw):
                        ww = c * sw - pw + j
                        if ww < 0 or ww >= w:
                            continue
                        xrow = x[a, hh, ww]
                        k = i * kw + j
                        if first:
                            for b in range(nb):
                                yrow[b] = xrow[b]
                                arow[b] = k
                            first = False
                        else:
                            for b in range(nb):
                                v = xrow[b]
                                best = yrow[b]
                                if v > best or (v != v and best == best):
                                    yrow[b] = v
                                    arow[b] = k


@njit()
def max_pool_backward(grad_y, argmax, kh, kw, sh, sw, ph, pw, grad_x):  # pragma: no cover
    """grad_x (A, H, W, B) gets each window's gradient at its maximum, zero elsewhere.
    Windows that tile x (stride = kernel, no padding, dividing H and W) write each element
    once; otherwise grad_x is zeroed and the windows add."""
    na, h, w, nb = grad_x.shape
    ho, wo = grad_y.shape[1], grad_y.shape[2]
    tiled = kh == sh and kw == sw and ph == 0 and pw == 0 and h == ho * kh and w == wo * kw
    for a in prange(na):
        if not tiled:
            grad_x[a] = 0
        for r in range(ho):
            for c in range(wo):
                grow = grad_y[a, r, c]
                arow = argmax[a, r, c]
                for i in range(kh):
                    hh = r * sh - ph + i
                    if hh < 0 or hh >= h:
                        continue
                    for j in range(kw):
                        ww = c * sw - pw + j
                        if ww < 0 or ww >= w:
                            continue
                        k = i * kw + j
                        gx = grad_x[a, hh, ww]
                        if tiled:
                            for b in range(nb):
                                gx[b] = grow[b] if arow[b] == k else 0
                        else:
                            for b in range(nb):
                                if arow[b] == k:
                                    gx[b] += grow[b]


@njit()
def max_pool_2x2(x, y, argmax):  # pragma: no cover
    """``max_pool`` for 2x2 windows at stride 2, unpadded (the usual pool): the same y
    and argmax, without branches, so that the loop along B vectorises (against
    ``max_pool``: 4x faster at B = 16, 1.6x at B = 10, level at B = 128). A NaN wins:
    the max tree keeps NaNs and the argmax is then the first NaN; otherwise it is the
    first entry equal to the maximum, as ``max_pool``'s strict > keeps it."""
    na, nb = x.shape[0], x.shape[3]
    ho, wo = y.shape[1], y.shape[2]
    for a in range(na):
        for r in range(ho):
            x0 = x[a, 2 * r]
            x1 = x[a, 2 * r + 1]
            yrow = y[a, r]
            arow = argmax[a, r]
            for c in range(wo):
                for b in range(nb):
                    v0 = x0[2 * c, b]
                    v1 = x0[2 * c + 1, b]
                    v2 = x1[2 * c, b]
                    v3 = x1[2 * c + 1, b]
                    top = v0 if (v0 >= v1) | (v0 != v0) else v1
                    bottom = v2 if (v2 >= v3) | (v2 != v2) else v3
                    m = top if (top >= bottom) | (top != top) else bottom
                    n0 = (v0 != m) & (v0 == v0)  # entry 0 is not the maximum (or first NaN)
                    n1 = (v1 != m) & (v1 == v1)
                    n2 = (v2 != m) & (v2 == v2)
                    yrow[c, b] = m
                    arow[c, b] = n0 * (1 + n1 * (1 + n2))
