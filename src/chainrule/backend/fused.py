"""Fused in-place update kernels for the optimisers' hot path.

Each function updates a parameter and its optimiser state in place, in one of two
ways that compute the same numbers, operation by operation:

- NumPy/CuPy (the reference, always available): in-place ufuncs into one scratch
  buffer per shape, the bias corrections folded into scalars. No temporaries of the
  parameter's size are allocated per step.
- compiled (numba, optional; see ``backend.jit``): one single-threaded pass over the
  elements, for large contiguous host arrays.

Scalars are cast to the array's dtype first, so both ways round alike (NumPy treats a
Python float as the array's dtype too).
"""

from __future__ import annotations

import threading

from chainrule.backend import jit
from chainrule.backend.arrays import Array, get_array_module

_local = threading.local()


def scratch(like: Array, slot: int = 0) -> Array:
    """A reusable buffer of ``like``'s shape and dtype (contents undefined).

    One per (shape, dtype, slot) and thread: the optimisers use it within one update,
    never across calls, so sharing it between parameters of one shape is safe.
    """
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    xp = get_array_module(like)
    key = (xp.__name__, like.shape, like.dtype.str, slot)
    buf = buffers.get(key)
    if buf is None:
        buf = buffers[key] = xp.empty(like.shape, like.dtype)
    return buf


def _compiled(*arrays: Array) -> bool:
    return arrays[0].size >= jit.PARALLEL_MIN and jit.usable(*arrays)


# ------------------------------------------------------------------------------- Adam
def adam_(
    p: Array,
    g: Array,
    s: Array,
    r: Array,
    *,
    rho1: float,
    rho2: float,
    eps: float,
    step_size: float,
    bc2_sqrt: float,
    weight_decay: float = 0.0,
    max_r: Array | None = None,
) -> None:
    """One Adam step in place (PyTorch's arithmetic), g never modified:

    g' = g + weight_decay p;  s <- rho1 s + (1 - rho1) g';  r <- rho2 r + (1 - rho2) g'^2;
    [max_r <- max(max_r, r), used for r];  p <- p - step_size s / (sqrt(r) / bc2_sqrt + eps)
    with step_size = lr / (1 - rho1^t) and bc2_sqrt = sqrt(1 - rho2^t).
    """
    dt = p.dtype.type
    amsgrad = max_r is not None
    if _compiled(p, g, s, r, *([max_r] if amsgrad else [])):
        jit.compiled().adam(
            p.reshape(-1),
            g.reshape(-1),
            s.reshape(-1),
            r.reshape(-1),
            max_r.reshape(-1) if amsgrad else s.reshape(-1)[:0],
            dt(rho1),
            dt(1.0 - rho1),
            dt(rho2),
            dt(1.0 - rho2),
            dt(eps),
            dt(step_size),
            dt(bc2_sqrt),
            dt(weight_decay),
        )
        return
    xp = get_array_module(p)
    tmp = scratch(p)
    if weight_decay:
        g2 = scratch(p, 1)
        xp.multiply(p, dt(weight_decay), out=g2)
        xp.add(g, g2, out=g2)  # g + wd p, in the compiled kernel's order
        g = g2
    s *= dt(rho1)
    xp.multiply(g, dt(1.0 - rho1), out=tmp)
    s += tmp
    r *= dt(rho2)
    xp.multiply(g, g, out=tmp)
    tmp *= dt(1.0 - rho2)
    r += tmp
    if amsgrad:
        r = xp.maximum(max_r, r, out=max_r)
    xp.sqrt(r, out=tmp)
    tmp /= dt(bc2_sqrt)
    tmp += dt(eps)
    xp.divide(s, tmp, out=tmp)
    tmp *= dt(step_size)
    p -= tmp


# --------------------------------------------------------------------------- Adadelta
def adadelta_(
    p: Array,
    g: Array,
    r: Array,
    u: Array,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float = 0.0,
) -> None:
    """One Adadelta step in place (Zeiler 2012, PyTorch's arithmetic), g never modified:

    g' = g + weight_decay p;  r <- rho r + (1 - rho) g'^2;
    dx = sqrt(u + eps) / sqrt(r + eps) g';  u <- rho u + (1 - rho) dx^2;  p <- p - lr dx.
    """
    dt = p.dtype.type
    if _compiled(p, g, r, u):
        jit.compiled().adadelta(
            p.reshape(-1),
            g.reshape(-1),
            r.reshape(-1),
            u.reshape(-1),
            dt(lr),
            dt(rho),
            dt(1.0 - rho),
            dt(eps),
            dt(weight_decay),
        )
        return
    xp = get_array_module(p)
    tmp, dx = scratch(p), scratch(p, 2)
    if weight_decay:
        g2 = scratch(p, 1)
        xp.multiply(p, dt(weight_decay), out=g2)
        xp.add(g, g2, out=g2)
        g = g2
    r *= dt(rho)
    xp.multiply(g, g, out=tmp)
    tmp *= dt(1.0 - rho)
    r += tmp
    xp.add(u, dt(eps), out=dx)
    xp.sqrt(dx, out=dx)
    xp.add(r, dt(eps), out=tmp)
    xp.sqrt(tmp, out=tmp)
    dx /= tmp
    dx *= g
    u *= dt(rho)
    xp.multiply(dx, dx, out=tmp)
    tmp *= dt(1.0 - rho)
    u += tmp
    dx *= dt(lr)
    p -= dx


# -------------------------------------------------------------------------------- SGD
def sgd_(
    p: Array,
    g: Array,
    v: Array | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    first: bool = False,
) -> None:
    """One SGD step in place (PyTorch's arithmetic), g never modified:

    g' = g + weight_decay p;  with momentum: v <- g' at the ``first`` step, else
    v <- momentum v + (1 - dampening) g', and g' <- g' + momentum v (Nesterov) or v;
    p <- p - lr g'. ``v``: the momentum buffer (written at the first step), or None.
    """
    dt = p.dtype.type
    mu = momentum if v is not None else 0.0
    if _compiled(p, g, *([v] if v is not None else [])):
        jit.compiled().sgd(
            p.reshape(-1),
            g.reshape(-1),
            v.reshape(-1) if v is not None else p.reshape(-1)[:0],
            dt(lr),
            dt(mu),
            dt(1.0 - dampening),
            dt(weight_decay),
            bool(nesterov),
            bool(first),
        )
        return
    xp = get_array_module(p)
    if weight_decay:
        g2 = scratch(p, 1)
        xp.multiply(p, dt(weight_decay), out=g2)
        xp.add(g, g2, out=g2)
        g = g2
    if v is not None:
        if first:
            v[...] = g
        else:
            v *= dt(mu)
            tmp = scratch(p)
            xp.multiply(g, dt(1.0 - dampening), out=tmp)
            v += tmp
        if nesterov:
            g3 = scratch(p, 2)
            xp.multiply(v, dt(mu), out=g3)
            xp.add(g, g3, out=g3)
            g = g3
        else:
            g = v
    tmp = scratch(p)
    xp.multiply(g, dt(lr), out=tmp)
    p -= tmp
