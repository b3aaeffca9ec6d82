"""Optimisers' paths over the contours of a 2-D loss: an ill-conditioned quadratic and
Rosenbrock's function, the lecture's pictures of why momentum and second-order methods help.

The paths are computed with chainrule's own optimisers on a parameter of shape (2,);
matplotlib (``pip install "chainrule[plot]"``) is needed only to draw them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import optim
from chainrule.autograd.tensor import Tensor
from chainrule.backend import Array
from chainrule.errors import ArgumentError

# The quadratic 1/2 theta^T A theta, A with eigenvalues 1 and 20 along axes turned by 30
# degrees: a narrow valley not aligned with the coordinates (condition number 20).
_TURN = math.radians(30)
_R = np.array([[math.cos(_TURN), -math.sin(_TURN)], [math.sin(_TURN), math.cos(_TURN)]])
QUADRATIC_A = _R @ np.diag([1.0, 20.0]) @ _R.T


def quadratic(x: Tensor | Array, y: Tensor | Array) -> Tensor | Array:
    """1/2 [x y] A [x y]^T for QUADRATIC_A; minimum 0 at (0, 0). Arrays or Tensors."""
    (a, b), (_, c) = QUADRATIC_A
    return 0.5 * (a * x * x + 2 * b * x * y + c * y * y)


def rosenbrock(x: Tensor | Array, y: Tensor | Array) -> Tensor | Array:
    """(1 - x)^2 + 100 (y - x^2)^2; minimum 0 at (1, 1), along a curved valley."""
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


# name -> (function, start, minimum, (x range, y range) of the picture, steps)
SURFACES: dict[str, tuple[Callable[[Any, Any], Any], tuple, tuple, tuple, int]] = {
    "quadratic": (quadratic, (-3.5, 2.0), (0.0, 0.0), ((-4.0, 4.0), (-2.5, 2.5)), 60),
    "rosenbrock": (rosenbrock, (-1.2, 1.0), (1.0, 1.0), ((-1.6, 1.6), (-0.4, 1.6)), 400),
}


def default_optimizers(surface: str) -> dict[str, Callable[[list[Tensor]], optim.Optimizer]]:
    """SGD, momentum, Nesterov, Adam, L-BFGS and Newton, with rates that suit ``surface``
    (the largest stable-looking ones for the first-order methods)."""
    sgd_lr, momentum_lr, adam_lr = (
        (0.08, 0.01, 0.3) if surface == "quadratic" else (1e-3, 2e-4, 0.05)
    )
    return {
        "SGD": lambda p: optim.SGD(p, lr=sgd_lr),
        "momentum": lambda p: optim.SGD(p, lr=momentum_lr, momentum=0.9),
        "Nesterov": lambda p: optim.SGD(p, lr=momentum_lr, momentum=0.9, nesterov=True),
        "Adam": lambda p: optim.Adam(p, lr=adam_lr),
        "L-BFGS": lambda p: optim.LBFGS(p, max_iter=1, max_eval=25, line_search_fn="strong_wolfe"),
        "Newton": lambda p: optim.Newton(p, damping=1e-6),
    }


def optimizer_paths(
    surface: str = "quadratic",
    optimizers: dict[str, Callable[[list[Tensor]], optim.Optimizer]] | None = None,
    steps: int | None = None,
    start: Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """For each optimiser (name -> factory taking the parameter list), its path on
    ``surface`` from ``start``: an array (steps + 1, 2) of the points visited, one per
    step (fewer if the loss stops being finite or the path converges). float64."""
    if surface not in SURFACES:
        raise ArgumentError(f"unknown surface {surface!r}; expected one of {sorted(SURFACES)}")
    function, default_start, _, _, default_steps = SURFACES[surface]
    steps = default_steps if steps is None else steps
    optimizers = default_optimizers(surface) if optimizers is None else optimizers
    paths = {}
    for name, make in optimizers.items():
        theta = Tensor(np.array(start or default_start, dtype=np.float64), dtype="float64")
        theta.requires_grad = True
        opt = make([theta])
        create_graph = bool(getattr(opt, "create_graph", False))

        def closure(
            opt: optim.Optimizer = opt, theta: Tensor = theta, create_graph: bool = create_graph
        ) -> Tensor:
            opt.zero_grad()
            loss = function(theta[0], theta[1])
            loss.backward(create_graph=create_graph)
            return loss

        points = [theta.numpy().copy()]
        for _ in range(steps):
            if getattr(opt, "requires_closure", False):
                opt.step(closure)
            else:
                closure()
                opt.step()
            point = theta.numpy().copy()
            if not np.all(np.isfinite(point)) or np.abs(point).max() > 1e6:
                break
            points.append(point)
            if np.abs(points[-1] - points[-2]).max() < 1e-12:
                break
        paths[name] = np.array(points)
    return paths


def plot_optimizer_paths(
    path: str | os.PathLike[str] | None = None,
    *,
    surfaces: Sequence[str] = ("quadratic", "rosenbrock"),
    optimizers: dict[str, Callable[[list[Tensor]], optim.Optimizer]] | None = None,
    steps: int | None = None,
    axes: Sequence[Any] | None = None,
) -> Any:
    """Each optimiser's path over the contours of each surface, one panel per surface.

    Draws on ``axes`` (matplotlib Axes, one per surface) if given, else on a new figure;
    writes a PNG to ``path`` if given. Returns the figure.
    """
    from chainrule.viz.plots import _figure, _save

    surfaces = list(surfaces)
    if axes is None:
        figure = _figure(6 * len(surfaces), 4.5)
        axes = [figure.add_subplot(1, len(surfaces), i + 1) for i in range(len(surfaces))]
    else:
        axes = list(axes)
        if len(axes) != len(surfaces):
            raise ArgumentError(f"give one axes per surface: {len(surfaces)}; got {len(axes)}")
        figure = axes[0].figure
    for ax, surface in zip(axes, surfaces):
        paths = optimizer_paths(surface, optimizers, steps)
        function, _, minimum, ((x0, x1), (y0, y1)), _ = SURFACES[surface]
        grid_x, grid_y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        values = function(grid_x, grid_y)
        levels = np.geomspace(max(values.min(), 1e-3), values.max(), 18)
        ax.contour(grid_x, grid_y, values, levels=levels, colors="0.75", linewidths=0.7)
        for i, (name, points) in enumerate(paths.items()):
            ax.plot(
                points[:, 0], points[:, 1], color=f"C{i}", marker="o", ms=2.5, lw=1.2,
                label=f"{name} ({len(points) - 1} steps)",
            )  # fmt: skip
        ax.plot(*minimum, marker="*", color="k", ms=12, ls="none")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(
            "ill-conditioned quadratic (condition number 20)"
            if surface == "quadratic"
            else "Rosenbrock's function"
        )
        ax.legend(fontsize=7, loc="lower right")
    if path is not None:
        _save(figure, path)
    return figure
