"""Pictures: the computational graph as Graphviz DOT (plots join later)."""

from chainrule.viz.graph import to_dot

__all__ = ["to_dot"]
