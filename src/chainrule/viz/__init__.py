"""Pictures: the computational graph (``draw``: names, ops, values, gradients; ``to_dot``:
Graphviz DOT), PNG plots of a run, and optimisers' paths over a loss surface
(``plot_optimizer_paths``; matplotlib)."""

from chainrule.viz.draw import GraphDrawing, draw
from chainrule.viz.graph import to_dot
from chainrule.viz.plots import (
    plot_confusion_matrix,
    plot_curves,
    plot_filters,
    plot_misclassified,
)
from chainrule.viz.trajectories import optimizer_paths, plot_optimizer_paths

__all__ = [
    "GraphDrawing",
    "draw",
    "optimizer_paths",
    "plot_confusion_matrix",
    "plot_curves",
    "plot_filters",
    "plot_misclassified",
    "plot_optimizer_paths",
    "to_dot",
]
