"""L-BFGS: a quasi-Newton method that builds its curvature from the last few steps."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import enable_grad, no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.optim.optimizer import Array, Optimizer, Params

# What ``state`` holds between steps: lists of (n,) arrays, (n,) arrays, and numbers.
_HISTORY = ("old_dirs", "old_stps")
_VECTORS = ("d", "prev_flat_grad")
_NUMBERS = ("func_evals", "n_iter", "t", "H_diag", "prev_loss")


class LBFGS(Optimizer):
    """Limited-memory BFGS (Nocedal, 1980; Liu & Nocedal, 1989), as PyTorch's ``LBFGS``.

    ``step(closure)`` runs up to ``max_iter`` iterations; ``closure`` zeroes the
    gradients, computes the loss, calls ``backward()`` and returns the loss, and is
    called once per function evaluation (at most ``max_eval``). Each iteration: the
    direction d = -H g by the two-loop recursion over the last ``history_size`` pairs
    (s, y) = (step, change of gradient), kept only when y.s > 1e-10, with the initial
    scaling H0 = y.s / y.y; then a step lr * d (the first one scaled by
    min(1, 1 / |g|_1)), or the step a strong-Wolfe line search finds
    (``line_search_fn="strong_wolfe"``). It stops when max|g| <= ``tolerance_grad``, or
    the step or the change of loss falls below ``tolerance_change``.

    One parameter group only, all parameters flattened into one vector: meant for
    full-batch (or large-batch) training of models whose gradient noise is small.
    """

    requires_closure = True

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_eval is None and isinstance(max_iter, int):
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ArgumentError(
                "LBFGS: parameter groups (per-parameter options) are not supported; pass "
                "one list of parameters"
            )
        self._params = self.param_groups[0]["params"]

    def _checked(self, key: str, value: Any) -> Any:
        if key in ("max_iter", "max_eval", "history_size"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"LBFGS: {key} must be a positive integer; got {key}={value!r}")
            return value
        if key in ("tolerance_grad", "tolerance_change"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ArgumentError(
                    f"LBFGS: {key} must be a non-negative number; got {key}={value!r}"
                )
            return float(value)
        if key == "line_search_fn":
            if value not in (None, "strong_wolfe"):
                raise ArgumentError(
                    f"LBFGS: line_search_fn must be None or 'strong_wolfe'; got {value!r}"
                )
            return value
        return super()._checked(key, value)

    # ------------------------------------------------------------- flat vectors
    def _gather_flat_grad(self) -> Array:
        xp = backend.get_array_module(self._params[0].data)
        return xp.concatenate(
            [
                xp.zeros(p.size, dtype=p.dtype) if p.grad is None else p.grad.data.reshape(-1)
                for p in self._params
            ]
        )

    def _add_grad(self, step_size: float, update: Array) -> None:
        offset = 0
        for p in self._params:
            p.data += (
                (step_size * update[offset : offset + p.size])
                .reshape(p.shape)
                .astype(p.dtype, copy=False)
            )
            offset += p.size

    def _clone_param(self) -> list[Array]:
        return [p.data.copy() for p in self._params]

    def _set_param(self, values: list[Array]) -> None:
        for p, v in zip(self._params, values):
            p.data[...] = v

    def _directional_evaluate(
        self, closure: Callable[[], Any], x: list[Array], t: float, d: Array
    ) -> tuple[float, Array]:
        self._add_grad(t, d)
        loss = _as_float(_evaluate(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # --------------------------------------------------------------------- step
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Up to ``max_iter`` L-BFGS iterations; returns the loss ``closure`` gave first."""
        if closure is None or not callable(closure):
            raise ArgumentTypeError(
                "LBFGS.step needs a closure that re-evaluates the model: def closure(): "
                "optimizer.zero_grad(); loss = ...; loss.backward(); return loss"
            )
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        xp = backend.get_array_module(self._params[0].data)

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = _evaluate(closure)
        loss = _as_float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if float(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps = state.get("old_dirs"), state.get("old_stps")
        ro, h_diag = state.get("ro"), state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                # the two-loop recursion: d = -H g
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * ro[i]
                    r = r + (al[i] - be_i) * old_stps[i]
                d = r
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(flat_grad @ d)
            if gtd > -tolerance_change:  # not a descent direction any more
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x: list[Array], step: float, direction: Array) -> tuple[float, Array]:
                    return self._directional_evaluate(closure, x, step, direction)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = _as_float(_evaluate(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if float(xp.abs(d * t).max()) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(
            d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
            prev_flat_grad=prev_flat_grad, prev_loss=prev_loss,
        )  # fmt: skip
        return orig_loss

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """As ``Optimizer.state_dict``; the history is saved as (k, n) arrays."""
        saved = super().state_dict()
        state = self.state.get(self._params[0])
        if state:
            entry: dict[str, Any] = {k: state[k] for k in _NUMBERS if state.get(k) is not None}
            for k in _VECTORS:
                if state.get(k) is not None:
                    entry[k] = backend.to_numpy(state[k]).copy()
            if state.get("old_dirs") is not None:
                n = sum(p.size for p in self._params)
                host = backend.array_module("cpu")
                for k in _HISTORY:
                    rows = [backend.to_numpy(v) for v in state[k]]
                    entry[k] = host.stack(rows) if rows else host.zeros((0, n))
                entry["ro"] = host.asarray(state["ro"], dtype="float64")
            saved["state"] = {0: entry}
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``, for the flat history ``state_dict`` saved."""
        saved = dict(state_dict)
        entry = dict(dict(saved.get("state", {})).get(0, {}))
        saved["state"] = {}
        super().load_state_dict(saved)
        if not entry:
            return
        first = self._params[0]
        n = sum(p.size for p in self._params)

        def vector(value: backend.ArrayLike, name: str) -> Array:
            array = backend.asarray(value, dtype=first.dtype)
            if array.shape[-1:] != (n,):
                raise ArgumentError(
                    f"LBFGS.load_state_dict: state {name!r} has shape {tuple(array.shape)}; "
                    f"expected vectors of the {n} parameters' length"
                )
            return backend.to_device(array, first.device).copy()

        state: dict[str, Any] = {k: entry[k] for k in _NUMBERS if k in entry}
        for k in _VECTORS:
            if k in entry:
                state[k] = vector(entry[k], k)
        if "old_dirs" in entry:
            for k in _HISTORY:
                state[k] = [vector(row, k) for row in entry[k]]
            state["ro"] = [float(v) for v in entry["ro"]]
        self.state = {first: state}


def _as_float(loss: Any) -> float:
    """The closure's loss (a Tensor with one element, or a number) as a float."""
    return float(loss.item() if hasattr(loss, "item") else loss)


def _evaluate(closure: Callable[[], Any]) -> Any:
    with enable_grad():
        return closure()


def _cubic_interpolate(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), within ``bounds``
    (Nocedal & Wright, eq. 3.59)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(
    obj_func: Callable[[Any, float, Array], tuple[float, Array]],
    x: Any,
    t: float,
    d: Array,
    f: float,
    g: Array,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Array, float, int]:
    """A step t along d meeting the strong Wolfe conditions (Nocedal & Wright, Algorithms
    3.5 and 3.6: bracketing, then zoom by cubic interpolation), as PyTorch's
    (after minFunc). Returns (loss, gradient, t, evaluations)."""
    xp = backend.get_array_module(d)
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = float(g_new @ d)

    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
        bracket_gtd = [gtd, gtd_new]

    # zoom: shrink the bracket until a point meets the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # NOTE: a point too close to the bracket's ends makes too little progress: move it
        # 10% of the bracket inside (the second time in a row, or when it falls outside).
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
