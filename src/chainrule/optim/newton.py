"""Damped Newton's method for small models, on second derivatives from the autodiff."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import grad
from chainrule.autograd.grad_mode import enable_grad, no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, GraphError
from chainrule.optim.optimizer import Array, Optimizer, Params

METHODS = ("exact", "cg")


class Newton(Optimizer):
    """theta <- theta - lr (H + lambda I)^-1 g: Newton's step from the second-order Taylor
    expansion of the loss, damped (Levenberg-Marquardt) so that it is a descent step
    where H is not positive definite or the quadratic model is poor.

    The gradient's graph comes from ``loss.backward(create_graph=True)``, which the
    closure (or the caller, before ``step()``) runs. ``method="exact"`` builds H, one
    Hessian-vector product per parameter (n backward passes, an n x n matrix; refused
    beyond ``max_params``), and solves by Cholesky, raising lambda tenfold until it
    succeeds; ``method="cg"`` solves by conjugate gradient on Hessian-vector products
    (``cg_max_iter`` of them at most, stopping early at negative curvature), no matrix.

    ``state[first parameter]["hessian_vector_products"]`` counts the products so far.
    With a closure the damping adapts: a step that raises the loss is undone and lambda
    multiplied by 10 (up to 10 tries); an accepted one divides it by 10, down to
    ``damping``. All parameters form one vector: one parameter group only.
    """

    requires_closure = True  # the training loop passes a closure to step()
    create_graph = True  # ... whose backward keeps the gradient's graph

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        damping: float = 1e-4,
        method: str = "exact",
        max_params: int = 4096,
        cg_max_iter: int = 50,
        cg_tol: float = 1e-10,
    ) -> None:
        defaults = dict(
            lr=lr,
            damping=damping,
            method=method,
            max_params=max_params,
            cg_max_iter=cg_max_iter,
            cg_tol=cg_tol,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ArgumentError("Newton: parameter groups are not supported; pass one list")
        self._params = self.param_groups[0]["params"]
        n = sum(p.size for p in self._params)
        group = self.param_groups[0]
        if group["method"] == "exact" and n > group["max_params"]:
            gigabytes = n * n * self._params[0].dtype.itemsize / 1e9
            raise ArgumentError(
                f"Newton: the model has {n} parameters, so its Hessian would hold {n}^2 = "
                f"{n * n:.3g} entries ({gigabytes:.3g} GB) and take {n} backward passes per "
                f"step; method='exact' takes at most max_params={group['max_params']}. Use "
                "method='cg' (Hessian-vector products, no matrix), L-BFGS, or a first-order "
                "optimiser"
            )

    def _checked(self, key: str, value: Any) -> Any:
        if key == "method":
            if value not in METHODS:
                raise ArgumentError(f"Newton: method must be one of {METHODS}; got {value!r}")
            return value
        if key in ("max_params", "cg_max_iter"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(
                    f"Newton: {key} must be a positive integer; got {key}={value!r}"
                )
            return value
        if key in ("damping", "cg_tol"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ArgumentError(
                    f"Newton: {key} must be a non-negative number; got {key}={value!r}"
                )
            return float(value)
        return super()._checked(key, value)

    # --------------------------------------------------------------------- step
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One damped Newton step; returns the loss ``closure`` gave (None without one)."""
        group = self.param_groups[0]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("step", 0)
        state.setdefault("lambda", group["damping"])
        state.setdefault("hessian_vector_products", 0)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        flat_grad = self._flat_grad_graph()
        g = flat_grad.data.copy()
        xp = backend.get_array_module(g)
        hessian = None
        if group["method"] == "exact":
            hessian = self._hessian(flat_grad)
            state["hessian_vector_products"] += g.size
        before = [p.data.copy() for p in self._params]
        loss_before = _as_float(loss) if loss is not None else None
        for _ in range(10 if closure is not None else 1):
            lam = state["lambda"]
            if hessian is not None:
                direction, lam = _damped_solve(hessian, g, lam, xp)
            else:
                direction, products = self._cg(flat_grad, g, lam)
                state["hessian_vector_products"] += products
            with no_grad():
                self._add(-group["lr"], direction)
            if closure is None:
                state["lambda"] = lam
                break
            with enable_grad():
                loss_after = _as_float(closure())
            if math.isfinite(loss_after) and loss_after <= loss_before:
                state["lambda"] = max(lam / 10.0, group["damping"])
                break
            for p, value in zip(self._params, before):  # undo, and damp harder
                p.data[...] = value
            state["lambda"] = max(lam, 1e-8) * 10.0
        state["step"] += 1
        return loss

    def _flat_grad_graph(self) -> Tensor:
        """The parameters' gradients as one vector, in the graph backward(create_graph=True)
        left them."""
        from chainrule.ops.shape import concatenate

        parts = []
        for p in self._params:
            if p.grad is None:
                parts.append(
                    Tensor._wrap(backend.get_array_module(p.data).zeros(p.size, p.dtype), False)
                )
            else:
                parts.append(p.grad.reshape(-1))
        with enable_grad():
            flat = concatenate(parts)
        if not flat.requires_grad:
            raise GraphError(
                "Newton needs the gradients' graph to differentiate them again: compute them "
                "with loss.backward(create_graph=True) (in the closure passed to step)"
            )
        return flat

    def _hvp(self, flat_grad: Tensor, v: Array) -> Array:
        """H v, by differentiating <g, v> (the graph of g is kept for the next one)."""
        with enable_grad():
            found = grad((flat_grad * v).sum(), self._params, retain_graph=True, allow_unused=True)
        xp = backend.get_array_module(v)
        return xp.concatenate(
            [
                xp.zeros(p.size, dtype=p.dtype) if h is None else h.data.reshape(-1)
                for p, h in zip(self._params, found)
            ]
        )

    def _hessian(self, flat_grad: Tensor) -> Array:
        """H, row by row: row i is the gradient of g_i."""
        xp = backend.get_array_module(flat_grad.data)
        n = flat_grad.size
        rows = []
        for i in range(n):
            with enable_grad():
                found = grad(flat_grad[i], self._params, retain_graph=True, allow_unused=True)
            rows.append(
                xp.concatenate(
                    [
                        xp.zeros(p.size, dtype=p.dtype) if h is None else h.data.reshape(-1)
                        for p, h in zip(self._params, found)
                    ]
                )
            )
        hessian = xp.stack(rows).astype("float64")
        return (hessian + hessian.T) / 2  # symmetric up to rounding

    def _cg(self, flat_grad: Tensor, g: Array, lam: float) -> tuple[Array, int]:
        """(H + lam I)^-1 g by conjugate gradient, and the Hessian-vector products it took;
        at negative curvature, the solution so far (or g itself at the first iteration:
        a gradient step)."""
        group = self.param_groups[0]
        xp = backend.get_array_module(g)
        x = xp.zeros_like(g)
        r = g.copy()
        d = r.copy()
        rr = float(r @ r)
        tolerance = group["cg_tol"] * max(rr, 1e-300)
        for k in range(group["cg_max_iter"]):
            hd = self._hvp(flat_grad, d) + lam * d
            curvature = float(d @ hd)
            if curvature <= 0:
                return (g.copy() if k == 0 else x), k + 1
            alpha = rr / curvature
            x += alpha * d
            r -= alpha * hd
            rr_new = float(r @ r)
            if rr_new <= tolerance:
                break
            d = r + (rr_new / rr) * d
            rr = rr_new
        return x, k + 1

    def _add(self, scale: float, direction: Array) -> None:
        offset = 0
        for p in self._params:
            update = direction[offset : offset + p.size].reshape(p.shape)
            p.data += (scale * update).astype(p.dtype, copy=False)
            offset += p.size


def _damped_solve(hessian: Array, g: Array, lam: float, xp: Any) -> tuple[Array, float]:
    """(H + lam I)^-1 g by Cholesky, raising lam tenfold until H + lam I is positive
    definite; returns the solution and the lam used."""
    n = hessian.shape[0]
    eye = xp.eye(n)
    scale = max(float(xp.abs(hessian).max()), 1.0)
    while True:
        try:
            factor = xp.linalg.cholesky(hessian + lam * eye)
            break
        except xp.linalg.LinAlgError:
            lam = max(lam * 10.0, 1e-8 * scale)
    y = xp.linalg.solve(factor, g.astype("float64"))
    return xp.linalg.solve(factor.T, y), lam


def _as_float(loss: Any) -> float:
    return float(loss.item() if hasattr(loss, "item") else loss)
