"""The computational graph of a result as Graphviz DOT text: the lecture's picture.

Tensors are ellipses labelled with their shape (and name), ops are boxes. Render with
``dot -Tpng graph.dot -o graph.png``. Export before ``backward()`` (or backward with
``retain_graph=True``): backward frees the graph's links, and a freed graph is refused.
``chainrule.viz.draw`` gives the lecture's picture (values and gradients) instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from chainrule.autograd.tensor import Tensor
from chainrule.viz.draw import check_graph_kept


def to_dot(
    root: Tensor, params: Mapping[str, Tensor] | None = None, title: str | None = None
) -> str:
    """DOT text for the graph that produced ``root``; ``params`` names leaf tensors."""
    check_graph_kept(root, "to_dot")
    names = {id(t): name for name, t in (params or {}).items()}
    ids: dict[int, str] = {}

    def node_id(obj: object, prefix: str) -> str:
        return ids.setdefault(id(obj), f"{prefix}{len(ids)}")

    lines = [
        "digraph chainrule {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    if title:
        lines.append(f'  label="{_escape(title)}"; labelloc=t;')
    seen: set[int] = set()
    stack = [root]
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        lines.append(
            _tensor_node(
                node_id(tensor, "t"), tensor, names.get(id(tensor)) or tensor.name, tensor is root
            )
        )
        ctx = tensor._ctx
        if ctx is None:
            continue
        op_id = node_id(ctx, "op")
        style = 'shape=box, style="rounded,filled", fillcolor="#fde9c9"'
        lines.append(f'  {op_id} [{style}, label="{ctx.name}"];')
        lines.append(f"  {op_id} -> {node_id(tensor, 't')};")
        for parent in ctx.inputs:
            lines.append(f"  {node_id(parent, 't')} -> {op_id};")
            stack.append(parent)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _tensor_node(node: str, tensor: Tensor, name: str | None, is_root: bool) -> str:
    shape = "x".join(str(n) for n in tensor.shape) or "scalar"
    label = f"{name}\\n{shape}" if name else shape
    if tensor.dtype.kind != "f" or tensor.dtype.itemsize != 4:
        label += f"\\n{tensor.dtype}"
    if is_root:
        color = "#f4b6b6"
    elif tensor._ctx is None and tensor.requires_grad:
        color = "#c6dcf7"  # a leaf we differentiate with respect to
    elif tensor._ctx is None:
        color = "#e8e8e8"  # a constant
    else:
        color = "#ffffff"
    return f'  {node} [shape=ellipse, style=filled, fillcolor="{color}", label="{_escape(label)}"];'


def _escape(text: str) -> str:
    return text.replace('"', '\\"')
