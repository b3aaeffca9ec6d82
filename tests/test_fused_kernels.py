"""The fast kernels against their references: fused optimiser updates (compiled and
NumPy) against the textbook formulas, and compiled against NumPy, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import fused, jit

needs_numba = pytest.mark.skipif(jit.numba is None, reason="numba is not installed (extra 'fast')")
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


def test_jit_can_be_switched_off_and_back():
    with jit.jit_disabled():
        assert not jit.available()
    assert jit.available() == (jit.numba is not None)
