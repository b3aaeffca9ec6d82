"""im2col/col2im, convolution and max-pooling against plain reference loops, over a sweep
of kernels, strides and paddings: windows that overlap along both axes, one axis only
(kernel (3, 2), stride (1, 2)), or none, and strides that leave rows or columns unused."""

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.backend.kernels import col2im, im2col

GEOMETRIES = [
    (kernel, stride)
    for kernel in itertools.product((1, 2, 3), repeat=2)
    for stride in itertools.product((1, 2, 3), repeat=2)
]


def reference_im2col(x, kernel, stride):
    """Row (c, i, j), column (h', w', n) = x[c, h' sh + i, w' sw + j, n], by loops."""
    c, h, w, n = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = np.zeros((c, kh, kw, ho, wo, n), x.dtype)
    for ci, i, j, oh, ow in itertools.product(range(c), range(kh), range(kw), range(ho), range(wo)):
        cols[ci, i, j, oh, ow] = x[ci, oh * sh + i, ow * sw + j]
    return cols.reshape(c * kh * kw, ho * wo * n)


def reference_col2im(cols, shape, kernel, stride):
    c, h, w, n = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = cols.reshape(c, kh, kw, ho, wo, n)
    x = np.zeros(shape, cols.dtype)
    for ci, i, j, oh, ow in itertools.product(range(c), range(kh), range(kw), range(ho), range(wo)):
        x[ci, oh * sh + i, ow * sw + j] += windows[ci, i, j, oh, ow]
    return x


@pytest.mark.parametrize("kernel,stride", GEOMETRIES)
def test_im2col_and_col2im_match_reference_loops(kernel, stride):
    rng = np.random.default_rng(hash((kernel, stride)) % 2**32)
    for h, w in ((kernel[0], kernel[1]), (8, 5)):
        x = rng.normal(size=(2, h, w, 3))
        cols = im2col(x, kernel, stride)
        np.testing.assert_array_equal(cols, reference_im2col(x, kernel, stride))
        upstream = rng.normal(size=cols.shape)
        back = col2im(upstream, x.shape, kernel, stride)
        np.testing.assert_allclose(back, reference_col2im(upstream, x.shape, kernel, stride))
        # the adjoint: <im2col(x), u> = <x, col2im(u)>
        assert np.vdot(cols, upstream) == pytest.approx(np.vdot(x, back), rel=1e-12)


def reference_conv2d(x, weight, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, w = x.shape
    f, _, kh, kw = weight.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, f, ho, wo))
    for oh, ow in itertools.product(range(ho), range(wo)):
        patch = x[:, :, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
        out[:, :, oh, ow] = np.einsum("nchw,fchw->nf", patch, weight)
    return out


@pytest.mark.parametrize(
    "kernel,stride,padding",
    [(k, s, [(0, 0), (1, 2), (2, 0), (0, 1)][i % 4]) for i, (k, s) in enumerate(GEOMETRIES)],
)
def test_conv2d_forward_and_backward_match_a_reference_loop(kernel, stride, padding):
    rng = np.random.default_rng(7)
    x = cr.tensor(rng.normal(size=(2, 2, 7, 6)), dtype="float64", requires_grad=True)
    weight = cr.tensor(rng.normal(size=(3, 2, *kernel)), dtype="float64", requires_grad=True)
    out = F.conv2d(x, weight, stride=stride, padding=padding)
    expected = reference_conv2d(x.numpy(), weight.numpy(), stride, padding)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    upstream = rng.normal(size=expected.shape)
    (out * cr.tensor(upstream, dtype="float64")).sum().backward()
    # the reference gradients by the adjoint, one output position at a time
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_x, grad_w = np.zeros_like(xp), np.zeros(weight.shape)
    kh, kw = kernel
    for oh, ow in itertools.product(range(expected.shape[2]), range(expected.shape[3])):
        window = (
            slice(None),
            slice(None),
            slice(oh * sh, oh * sh + kh),
            slice(ow * sw, ow * sw + kw),
        )
        g = upstream[:, :, oh, ow]
        grad_x[window] += np.einsum("nf,fchw->nchw", g, weight.numpy())
        grad_w += np.einsum("nf,nchw->fchw", g, xp[window])
    grad_x = grad_x[:, :, ph : ph + 7, pw : pw + 6]
    np.testing.assert_allclose(x.grad.numpy(), grad_x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weight.grad.numpy(), grad_w, rtol=1e-10, atol=1e-12)


def reference_max_pool(x, kernel, stride, padding):
    """(output, grad routing) by loops: each output takes its window's maximum, and its
    upstream gradient goes to that one input (padding never wins)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    n, c, h, w = xp.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, ho, wo))
    argmax = np.zeros((n, c, ho, wo, 2), np.int64)
    for b, ch, oh, ow in itertools.product(range(n), range(c), range(ho), range(wo)):
        window = xp[b, ch, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        out[b, ch, oh, ow] = window[i, j]
        argmax[b, ch, oh, ow] = (oh * sh + i - ph, ow * sw + j - pw)
    return out, argmax


POOL_GEOMETRIES = [  # every kernel and stride; paddings up to half the kernel, in turn
    (kernel, stride, padding)
    for i, (kernel, stride) in enumerate(GEOMETRIES)
    for padding in [((i // 2) % 2 * (kernel[0] // 2), i % 2 * (kernel[1] // 2))]
]


@pytest.mark.parametrize("kernel,stride,padding", POOL_GEOMETRIES)
def test_max_pool_matches_a_reference_loop_whatever_overlaps(kernel, stride, padding):
    rng = np.random.default_rng(3)
    data = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6).astype(np.float64)  # no ties
    x = cr.tensor(data, dtype="float64", requires_grad=True)
    out = F.max_pool2d(x, kernel, stride, padding)
    expected, argmax = reference_max_pool(data, kernel, stride, padding)
    np.testing.assert_array_equal(out.numpy(), expected)
    upstream = rng.normal(size=expected.shape)
    (out * cr.tensor(upstream, dtype="float64")).sum().backward()
    grad = np.zeros_like(data)
    for b, ch, oh, ow in itertools.product(*map(range, expected.shape)):
        i, j = argmax[b, ch, oh, ow]
        grad[b, ch, i, j] += upstream[b, ch, oh, ow]  # overlapping windows add up
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, atol=1e-12)


def test_the_sweep_holds_windows_overlapping_along_one_axis_only():
    one_axis = [
        (k, s) for k, s in GEOMETRIES if (s[0] < k[0]) != (s[1] < k[1])
    ]  # overlapping rows xor overlapping columns
    assert ((3, 2), (1, 2)) in one_axis and ((2, 3), (2, 1)) in one_axis
