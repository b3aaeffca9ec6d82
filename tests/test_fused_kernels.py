"""The fast kernels against their references: fused optimiser updates (compiled and
NumPy) against the textbook formulas, and compiled against NumPy, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import fused, jit, random

needs_numba = pytest.mark.skipif(
    not jit.installed(), reason="numba is not installed (extra 'fast')"
)
BIG = jit.PARALLEL_MIN + 7  # takes the compiled path when numba is there


def _state(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    s = (rng.standard_normal(n) * 1e-3).astype(dtype)
    r = (rng.random(n) * 1e-6).astype(dtype)
    return p, g, s, r


def _adam_formula(p, g, s, r, lr, rho1, rho2, eps, t, wd, max_r=None):
    """The lecture's Adam, in float64, temporaries and all."""
    p, g, s, r = (a.astype(np.float64) for a in (p, g, s, r))
    g = g + wd * p
    s = rho1 * s + (1 - rho1) * g
    r = rho2 * r + (1 - rho2) * g * g
    r_used = r if max_r is None else np.maximum(max_r.astype(np.float64), r)
    s_hat, r_hat = s / (1 - rho1**t), r_used / (1 - rho2**t)
    return p - lr * s_hat / (np.sqrt(r_hat) + eps), s, r


@pytest.mark.parametrize("n", [5, BIG])
@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("eps", [1e-8, 1e-2])  # an eps that matters: sqrt(r_hat) + eps
@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_matches_the_formula(n, wd, eps, amsgrad):
    p, g, s, r = _state(n, np.float64)
    max_r = r * 2 if amsgrad else None
    lr, rho1, rho2, t = 1e-2, 0.9, 0.999, 3
    want_p, want_s, want_r = _adam_formula(p, g, s, r, lr, rho1, rho2, eps, t, wd, max_r)
    fused.adam_(
        p, g, s, r, rho1=rho1, rho2=rho2, eps=eps, step_size=lr / (1 - rho1**t),
        bc2_sqrt=np.sqrt(1 - rho2**t), weight_decay=wd, max_r=max_r,
    )  # fmt: skip
    np.testing.assert_allclose(s, want_s, rtol=1e-12)
    np.testing.assert_allclose(r, want_r, rtol=1e-12)
    np.testing.assert_allclose(p, want_p, rtol=1e-12, atol=1e-15)


def test_fused_adam_leaves_the_gradient_alone():
    p, g, s, r = _state(BIG, np.float32)
    before = g.copy()
    fused.adam_(p, g, s, r, rho1=0.9, rho2=0.999, eps=1e-8, step_size=1e-3, bc2_sqrt=0.1,
                weight_decay=0.5)  # fmt: skip
    np.testing.assert_array_equal(g, before)


def _adadelta_formula(p, g, r, u, lr, rho, eps, wd):
    p, g, r, u = (a.astype(np.float64) for a in (p, g, r, u))
    g = g + wd * p
    r = rho * r + (1 - rho) * g**2
    dx = np.sqrt(u + eps) / np.sqrt(r + eps) * g
    u = rho * u + (1 - rho) * dx**2
    return p - lr * dx, r, u


@pytest.mark.parametrize("n", [5, BIG])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_fused_adadelta_matches_the_formula(n, wd):
    p, g, r, u = _state(n, np.float64, seed=1)
    r, u = np.abs(r), np.abs(u)
    want = _adadelta_formula(p, g, r, u, 1.0, 0.95, 1e-7, wd)
    fused.adadelta_(p, g, r, u, lr=1.0, rho=0.95, eps=1e-7, weight_decay=wd)
    for got, expected in zip((p, r, u), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wd", [0.0, 0.01])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_compiled_adam_equals_numpy_bit_for_bit(dtype, wd, amsgrad):
    results = []
    for compiled in (True, False):
        p, g, s, r = _state(BIG, dtype, seed=2)
        max_r = r * 1.5 if amsgrad else None
        jit.set_jit(compiled)
        try:
            for t in range(1, 4):
                fused.adam_(p, g, s, r, rho1=0.9, rho2=0.999, eps=1e-8,
                            step_size=1e-3 / (1 - 0.9**t), bc2_sqrt=np.sqrt(1 - 0.999**t),
                            weight_decay=wd, max_r=max_r)  # fmt: skip
        finally:
            jit.set_jit(True)
        results.append((p, s, r))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adadelta_equals_numpy_bit_for_bit(dtype):
    results = []
    for compiled in (True, False):
        p, g, r, u = _state(BIG, dtype, seed=3)
        r, u = np.abs(r), np.abs(u)
        jit.set_jit(compiled)
        try:
            for _ in range(3):
                fused.adadelta_(p, g, r, u, lr=1.0, rho=0.95, eps=1e-7, weight_decay=0.01)
        finally:
            jit.set_jit(True)
        results.append((p, r, u))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


SGD_CASES = [  # momentum, dampening, nesterov, weight decay
    (0.0, 0.0, False, 0.0),
    (0.0, 0.0, False, 0.1),
    (0.9, 0.0, False, 0.0),
    (0.9, 0.2, False, 0.1),
    (0.9, 0.0, True, 0.1),
]


def _sgd_formula(p, g, v, lr, mu, damp, nesterov, wd, first):
    """The lecture's (PyTorch's) SGD step, in float64, temporaries and all."""
    p, g = p.astype(np.float64), g.astype(np.float64) + wd * p.astype(np.float64)
    if mu:
        v = g.copy() if first else mu * v.astype(np.float64) + (1 - damp) * g
        g = g + mu * v if nesterov else v
    return p - lr * g, v


@pytest.mark.parametrize("n", [5, BIG])
@pytest.mark.parametrize("mu, damp, nesterov, wd", SGD_CASES)
def test_fused_sgd_matches_the_formula(n, mu, damp, nesterov, wd):
    p, g, v, _ = _state(n, np.float64, seed=4)
    for first in (True, False):
        want_p, want_v = _sgd_formula(p, g, v, 0.05, mu, damp, nesterov, wd, first)
        fused.sgd_(p, g, v if mu else None, lr=0.05, momentum=mu, dampening=damp,
                   nesterov=nesterov, weight_decay=wd, first=first)  # fmt: skip
        np.testing.assert_allclose(p, want_p, rtol=1e-13, atol=1e-15)
        if mu:
            np.testing.assert_allclose(v, want_v, rtol=1e-13, atol=1e-15)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mu, damp, nesterov, wd", SGD_CASES)
def test_compiled_sgd_equals_numpy_bit_for_bit(dtype, mu, damp, nesterov, wd):
    results = []
    for compiled in (True, False):
        p, g, _, _ = _state(BIG, dtype, seed=5)
        v = np.empty_like(p) if mu else None
        jit.set_jit(compiled)
        try:
            for t in range(3):
                fused.sgd_(p, g, v, lr=0.05, momentum=mu, dampening=damp, nesterov=nesterov,
                           weight_decay=wd, first=t == 0)  # fmt: skip
        finally:
            jit.set_jit(True)
        results.append((p, v))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    if mu:
        np.testing.assert_array_equal(results[0][1], results[1][1])


@needs_numba
def test_compiled_division_by_zero_follows_numpy_not_python():
    # error_model="numpy": 0/0 is NaN as in NumPy, not a ZeroDivisionError; Python's
    # error model also checks every division, which keeps LLVM from vectorising the loop.
    results = []
    for compiled in (True, False):
        p, g, s, r = (np.zeros(BIG, np.float32) for _ in range(4))
        jit.set_jit(compiled)
        try:
            with np.errstate(invalid="ignore"):
                fused.adam_(p, g, s, r, rho1=0.9, rho2=0.999, eps=0.0, step_size=1e-3,
                            bc2_sqrt=1.0)  # fmt: skip
        finally:
            jit.set_jit(True)
        results.append(p)
    assert np.isnan(results[0]).all()
    np.testing.assert_array_equal(*results)


def test_jit_can_be_switched_off_and_back():
    with jit.jit_disabled():
        assert not jit.available()
    assert jit.available() == jit.installed()


# ------------------------------------------------------------- im2col / col2im kernels
from chainrule.backend import kernels  # noqa: E402

GEOMETRIES = [  # (C, H, W, N), kernel, stride: overlapping, tiling, gaps, 1x1, odd sizes
    ((1, 5, 5, 2), (3, 3), (1, 1)),
    ((2, 6, 7, 3), (2, 2), (2, 2)),
    ((3, 7, 6, 1), (3, 2), (1, 2)),
    ((2, 9, 8, 2), (2, 3), (3, 2)),
    ((4, 4, 4, 5), (1, 1), (1, 1)),
    ((1, 8, 5, 4), (5, 1), (2, 1)),
]


def _im2col_loops(x, kernel, stride):
    """The definition, one entry at a time."""
    c, h, w, n = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((c, kh, kw, ho, wo, n), x.dtype)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for a in range(ho):
                    for b in range(wo):
                        out[ci, i, j, a, b] = x[ci, a * sh + i, b * sw + j]
    return out.reshape(c * kh * kw, ho * wo * n)


@pytest.fixture(params=["numpy", "compiled"])
def kernel_path(request, monkeypatch):
    if request.param == "compiled":
        if not jit.installed():
            pytest.skip("numba is not installed (extra 'fast')")
        monkeypatch.setattr(jit, "PARALLEL_MIN", 0)  # small arrays take the compiled path too
    else:
        monkeypatch.setattr(jit, "_enabled", False)
    return request.param


@pytest.mark.parametrize("shape, kernel, stride", GEOMETRIES)
def test_im2col_matches_the_definition(kernel_path, shape, kernel, stride):
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(
        kernels.im2col(x, kernel, stride), _im2col_loops(x, kernel, stride)
    )


@pytest.mark.parametrize("shape, kernel, stride", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(kernel_path, shape, kernel, stride):
    """<im2col(x), c> = <x, col2im(c)> for every x and c: col2im sums each column back."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    cols = rng.standard_normal(_im2col_loops(x, kernel, stride).shape)
    back = kernels.col2im(cols, shape, kernel, stride)
    expected = np.zeros(shape)
    # the definition: scatter-add every column entry to where im2col read it from
    c, h, w, n = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = cols.reshape(c, kh, kw, ho, wo, n)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for a in range(ho):
                    for b in range(wo):
                        expected[ci, a * sh + i, b * sw + j] += windows[ci, i, j, a, b]
    np.testing.assert_allclose(back, expected, rtol=1e-13, atol=1e-13)
    assert np.isclose(np.sum(kernels.im2col(x, kernel, stride) * cols), np.sum(x * back))


@needs_numba
@pytest.mark.parametrize("shape, kernel, stride", GEOMETRIES)
@pytest.mark.parametrize("batch", [64, 32, 10], ids=["gather", "scatter-32", "scatter-10"])
def test_compiled_col2im_equals_numpy_bit_for_bit(monkeypatch, shape, kernel, stride, batch):
    # the gather from 64 images (32 when the stride along W is not 1), else the scatter,
    # which at stride 1 adds whole window rows
    shape = (*shape[:3], batch)
    cols = (
        np.random.default_rng(2)
        .standard_normal(_im2col_loops(np.zeros(shape), kernel, stride).shape)
        .astype(np.float32)
    )
    monkeypatch.setattr(jit, "PARALLEL_MIN", 0)
    compiled = kernels.col2im(cols, shape, kernel, stride)
    with jit.jit_disabled():
        reference = kernels.col2im(cols, shape, kernel, stride)
    np.testing.assert_array_equal(compiled, reference)


def test_workspace_is_reused_and_grows():
    like = np.zeros(1, np.float32)
    a = kernels.workspace((10, 20), np.float32, like)
    b = kernels.workspace((5, 4), np.float32, like)
    assert np.shares_memory(a, b)  # the same buffer, smaller view
    c = kernels.workspace((100, 100), np.float32, like)
    assert c.shape == (100, 100) and c.flags.c_contiguous
    assert kernels.workspace((3,), np.float64, like).dtype == np.float64


@pytest.mark.parametrize(
    "layout", ["c", "batch-last"]
)  # batch-last: the (N, C, H, W) view of a conv's (C, H, W, N) output
def test_relu_backward_masks_where_the_output_is_positive(kernel_path, layout):
    rng = np.random.default_rng(4)
    y = np.maximum(rng.standard_normal((3, 4, 5, 6)), 0).astype(np.float32)
    g = rng.standard_normal(y.shape).astype(np.float32)
    g[0, 0, 0, :2] = [np.nan, np.inf]
    y[0, 0, 0, :2] = [0.0, 1.0]
    if layout == "batch-last":
        y = np.ascontiguousarray(y.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
        g = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    got = kernels.relu_backward(g, y)
    np.testing.assert_array_equal(got, g * (y > 0))  # NaN * 0 stays NaN, as in NumPy
    assert got.strides == g.strides


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_kernel_is_the_mask_formula_bit_for_bit(kernel_path, dtype, p):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((37, 29)).astype(dtype)
    x[0, :2] = [np.nan, np.inf]
    bits = rng.integers(0, 2**32, x.shape, dtype=np.uint32)
    t = random.bits_threshold(p)
    bits[1, :3] = [t, t - 1, 0]
    y, mask = kernels.dropout(x, bits, p)
    want_mask = (bits >= t).astype(dtype) * dtype(1.0 / (1.0 - p))
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(y, x * want_mask)  # NaN * 0 stays NaN, as in NumPy
    assert y.dtype == mask.dtype == dtype
    assert mask[1, 0] != 0 and mask[1, 1] == 0 and mask[1, 2] == 0  # kept iff bits >= t


@pytest.mark.parametrize("layout", ["c", "batch-last"])
def test_dropout_is_the_same_on_both_paths_for_any_layout(monkeypatch, layout):
    """A conv's batch-last output too: its elements pair with the bits in C order."""
    import chainrule as cr
    from chainrule.functional import dropout

    x = np.random.default_rng(8).standard_normal((6, 5, 4, 9)).astype(np.float32)
    if layout == "batch-last":
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(jit, "PARALLEL_MIN", 0 if compiled else 1 << 62)
        cr.manual_seed(3)
        t = cr.tensor(x, requires_grad=True) if layout == "c" else cr.Tensor(x, requires_grad=True)
        y = dropout(t, 0.3)
        y.backward(cr.ones_like(y))
        assert y.numpy().flags.c_contiguous or not compiled
        results.append((y.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    kept = results[0][1] != 0
    np.testing.assert_array_equal(results[0][0][kept], x[kept] * np.float32(1 / 0.7))
    assert 0.55 < kept.mean() < 0.85


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a,  # already C order: itself
        lambda a: np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),  # batch-last
        lambda a: a.transpose(1, 2, 3, 0),  # NCHW seen batch-last
        lambda a: a.reshape(35, 36).T,  # a plain transpose
        lambda a: a.transpose(0, 2, 1, 3),  # not a rotation: NumPy's copy
        lambda a: a[:, :, ::2],  # not dense: NumPy's copy
        lambda a: np.broadcast_to(a[:1], a.shape),  # zero strides: NumPy's copy
    ],
)
def test_ascontiguous_is_numpys_copy(kernel_path, make):
    a = make(np.random.default_rng(9).standard_normal((5, 7, 4, 9)).astype(np.float32))
    got = kernels.ascontiguous(a)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, a)
    if a.flags.c_contiguous:
        assert got is a


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1 - 2**-40])
def test_bits_threshold_gives_the_drop_probability(p):
    t = random.bits_threshold(p)
    assert 0 <= t < 2**32
    assert abs(t / 2**32 - p) <= 2**-32  # P(bits < t) = t / 2**32


def test_random_bits_are_the_generators_raw_outputs_split_in_two():
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    bits = random.random_bits(g1, (3, 5))  # 15 elements: 8 raw draws, the last half unused
    raw = g2.bit_generator.random_raw(8)
    assert bits.dtype == np.uint32 and bits.shape == (3, 5)
    np.testing.assert_array_equal(bits.reshape(-1), raw.view(np.uint32)[:15])
    assert g1.bit_generator.state == g2.bit_generator.state


POOLS = [  # kernel, stride, padding on 7 x 8 maps: tiling exactly, tiling but the last row,
    # overlap on both axes, on one axis only, gaps
    ((1, 2), (1, 2), (0, 0)),
    ((2, 2), (2, 2), (0, 0)),
    ((3, 3), (1, 1), (1, 1)),
    ((3, 2), (1, 2), (0, 0)),
    ((2, 3), (2, 1), (1, 1)),
    ((2, 2), (3, 3), (0, 0)),
]


@needs_numba
@pytest.mark.parametrize("kernel, stride, padding", POOLS)
@pytest.mark.parametrize("layout", ["nchw", "batch-last"])
def test_compiled_max_pool_equals_the_array_path(monkeypatch, kernel, stride, padding, layout):
    """Forward and backward, ties included (the first maximum in row-major order wins)."""
    import chainrule as cr
    from chainrule.functional import max_pool2d

    rng = np.random.default_rng(5)
    n = kernels.POOL_MIN_BATCH + 1
    x = rng.integers(-3, 4, (n, 3, 7, 8)).astype(np.float64)  # small integers: many ties
    if layout == "batch-last":
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    grad = rng.standard_normal((n, 3, 7, 8))
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(jit, "PARALLEL_MIN", 0)
        jit.set_jit(compiled)
        t = cr.Tensor(x, requires_grad=True)  # x's own layout, not a C-order copy
        y = max_pool2d(t, kernel, stride, padding)
        jit.set_jit(True)
        took_compiled = y.grad_fn.geometry[3] is None  # no window offsets: the kernel ran
        assert took_compiled == (compiled and layout == "batch-last")
        (y * cr.tensor(grad[:, :, : y.shape[2], : y.shape[3]])).sum().backward()
        results.append((y.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    # overlapping windows add into one position in another order: equal to rounding
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-6)


@needs_numba
@pytest.mark.parametrize("batch", [1, 8, 10, 17])
@pytest.mark.parametrize("hw", [(6, 8), (7, 9)])
def test_branch_free_2x2_pool_equals_the_general_kernel(batch, hw):
    """The usual pool's kernel gives the general kernel's maxima and argmax: ties to the
    first entry, a NaN winning (the first NaN), an odd last row or column left out."""
    from chainrule.backend import _numba_kernels as k

    rng = np.random.default_rng(9)
    x = rng.integers(-2, 3, (3, *hw, batch)).astype(np.float32)  # many ties
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, :2, :2, 0] = [[1.0, np.nan], [np.nan, 5.0]]  # two NaNs in one window: the first
    ho, wo = hw[0] // 2, hw[1] // 2
    y, argmax = np.empty((3, ho, wo, batch), np.float32), np.empty((3, ho, wo, batch), np.int16)
    k.max_pool_2x2(x, y, argmax)
    want_y, want_argmax = np.empty_like(y), np.empty_like(argmax)
    k.max_pool(x, 2, 2, 2, 2, 0, 0, want_y, want_argmax)
    np.testing.assert_array_equal(y, want_y)  # NaN where NaN
    np.testing.assert_array_equal(argmax, want_argmax)
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1


@needs_numba
def test_compiled_cnn_path_passes_gradcheck(monkeypatch):
    """conv -> relu -> max-pool -> conv, float64, every kernel on its compiled path."""
    import chainrule as cr
    import chainrule.functional as F

    monkeypatch.setattr(jit, "PARALLEL_MIN", 0)
    rng = np.random.default_rng(6)
    n = kernels.POOL_MIN_BATCH  # the compiled pooling loops take batches from this size
    x = cr.tensor(rng.standard_normal((n, 2, 6, 6)), requires_grad=True)
    w1 = cr.tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
    w2 = cr.tensor(rng.standard_normal((2, 4, 2, 2)), requires_grad=True)

    def f(x, w1, w2):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2)
        return F.conv2d(h, w2, stride=2)

    pooled = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2)
    assert pooled.grad_fn.geometry[3] is None  # the compiled max-pool ran
    assert cr.gradcheck(f, (x, w1, w2))


@needs_numba
def test_warm_up_compiles_every_kernel():
    from chainrule.backend import _numba_kernels

    jit.warm_up()
    for name in (
        "adam",
        "adadelta",
        "sgd",
        "relu_backward",
        "transpose",
        "dropout",
        "max_pool",
        "max_pool_2x2",
        "max_pool_backward",
        "col2im",
        "col2im_scatter",
    ):
        assert len(getattr(_numba_kernels, name).signatures) >= 2, name  # float32 and float64


def test_a_workspace_request_over_the_limit_is_not_kept(monkeypatch):
    like = np.zeros(1, np.float32)
    monkeypatch.setattr(kernels, "WORKSPACE_LIMIT", 4000)
    kept = kernels.workspace((10, 10), np.float32, like)  # 400 bytes: kept
    big = kernels.workspace((100, 100), np.float32, like)  # 40,000 bytes: a fresh array
    assert not np.shares_memory(big, kernels.workspace((10, 10), np.float32, like))
    assert np.shares_memory(kept, kernels.workspace((5, 5), np.float32, like))
