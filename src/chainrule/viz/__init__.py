"""Pictures: the computational graph (``draw``: names, ops, values, gradients; ``to_dot``:
Graphviz DOT), and PNG plots of a run (matplotlib)."""

from chainrule.viz.draw import GraphDrawing, draw
from chainrule.viz.graph import to_dot
from chainrule.viz.plots import (
    plot_confusion_matrix,
    plot_curves,
    plot_filters,
    plot_misclassified,
)

__all__ = [
    "GraphDrawing",
    "draw",
    "plot_confusion_matrix",
    "plot_curves",
    "plot_filters",
    "plot_misclassified",
    "to_dot",
]
