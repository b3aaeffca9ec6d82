"""Special functions NumPy lacks, on backend arrays: ``erfc`` (and ``erf`` from it).

W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for
the error function", Math. Comp. 23, 1969; the coefficients of SPECFUN's CALERF), good
to about 1e-16 relative in float64. Three intervals of |x|, each one vectorised pass.
"""

from __future__ import annotations

from typing import Any

from chainrule.backend import Array, get_array_module

_SQRT_PI_INV = 5.6418958354775628695e-1  # 1 / sqrt(pi)
# erf(y) = y P(y^2) / Q(y^2) on |y| <= 0.46875
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)  # fmt: skip
# erfc(y) = e^(-y^2) P(y) / Q(y) on 0.46875 < y <= 4
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
# erfc(y) = e^(-y^2) / y (1/sqrt(pi) - z P(z) / Q(z)), z = 1 / y^2, on y > 4
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip


def _ratio(t: Any, num: tuple[float, ...], den: tuple[float, ...], steps: int) -> Any:
    """Cody's Horner scheme: (((num[-1] t + num[0]) t + ...) + num[steps]) / (same for den)."""
    top, bottom = num[-1] * t, t
    for i in range(steps):
        top = (top + num[i]) * t
        bottom = (bottom + den[i]) * t
    return (top + num[steps]) / (bottom + den[steps])


def _pieces(x: Any) -> tuple[Any, Any, Any, Any]:
    """(xp, |x| <= 0.46875, erf(|x|) there, erfc(|x|) elsewhere)."""
    xp = get_array_module(x)
    # NOTE: capped at 27, where erfc has underflowed in float64, so y * y cannot overflow
    y = xp.minimum(xp.abs(x), 27.0)
    y2 = y * y
    erf_small = y * _ratio(y2, _A, _B, 3)
    middle = _ratio(y, _C, _D, 7)
    z = 1.0 / xp.maximum(y2, 16.0)  # only used where y > 4
    tail = (_SQRT_PI_INV - z * _ratio(z, _P, _Q, 4)) / xp.maximum(y, 4.0)
    # e^(-y^2) as e^(-r^2) e^(-(y - r)(y + r)), r = y rounded down to 1/16: r^2 is exact,
    # where rounding y^2 would cost ~y^2 * 1e-16 relative in the tail
    r = xp.floor(y * 16.0) / 16.0
    erfc_large = xp.exp(-r * r) * xp.exp(-(y - r) * (y + r)) * xp.where(y <= 4.0, middle, tail)
    return xp, y <= 0.46875, erf_small, erfc_large


def erfc(x: Array) -> Array:
    """1 - erf(x) elementwise, accurate in the tail where 1 - erf(x) would round to 0."""
    xp, small, erf_small, erfc_large = _pieces(x)
    positive = xp.where(small, 1.0 - erf_small, erfc_large)  # erfc(|x|)
    return xp.where(x < 0, 2.0 - positive, positive).astype(x.dtype, copy=False)


def erf(x: Array) -> Array:
    """erf(x) elementwise, accurate near 0 where 1 - erfc(x) would lose digits."""
    xp, small, erf_small, erfc_large = _pieces(x)
    return (xp.sign(x) * xp.where(small, erf_small, 1.0 - erfc_large)).astype(x.dtype, copy=False)
