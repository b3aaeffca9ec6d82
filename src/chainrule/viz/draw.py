"""The computational graph as the lectures draw it: one node per value, labelled with its
name, the operation that made it, its value and (after backward) d(root)/d(node).

``draw(e)`` returns a ``GraphDrawing``: Jupyter shows it inline (``_repr_svg_``,
``_repr_png_``); ``.save("graph.svg")`` writes SVG, PNG or DOT. Graphviz's ``dot`` lays
it out when installed, matplotlib (``pip install "chainrule[plot]"``) otherwise.
Backward frees the graph: draw after ``e.backward(retain_graph=True)``, or before.
"""

from __future__ import annotations

import inspect
import io
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd import engine
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentError, GraphError
from chainrule.train.serialization import atomic_write_bytes
from chainrule.viz.plots import _figure

# How the lectures write the common ops: ``c = a + b`` rather than ``c = Add(a, b)``.
INFIX = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "^", "MatMul": "@"}

COLOURS = {"root": "#f4b6b6", "leaf": "#c6dcf7", "constant": "#e8e8e8", "op": "#fde9c9"}


@dataclass
class Node:
    """One value of the graph: its label's lines, its kind (a COLOURS key), its inputs."""

    key: str
    lines: list[str]
    kind: str
    inputs: list[str]


def check_graph_kept(root: Tensor, what: str) -> None:
    """Refuse a root whose graph backward has already freed (it would draw one node)."""
    if root._ctx is not None and root._ctx.saved is engine._RELEASED:
        raise GraphError(
            f"{what}: the graph of this tensor was freed by backward(); call "
            "backward(retain_graph=True) to keep it for drawing, or draw before backward"
        )


def draw(
    root: Tensor,
    names: Mapping[str, Tensor] | None = None,
    gradients: bool | None = None,
    title: str | None = None,
) -> GraphDrawing:
    """The graph that computed ``root``, as the lecture draws it.

    Names come from ``names`` ({name: tensor}), then ``tensor.name`` (``cr.tensor(...,
    name="a")``), then the caller's variables. ``gradients``: show d(root)/d(node) at
    every node (root must be a scalar); None shows them once backward has filled the
    leaves' ``.grad``.
    """
    if not isinstance(root, Tensor):
        raise ArgumentError(f"draw: expected a Tensor; got {type(root).__name__}")
    check_graph_kept(root, "draw")
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    labels = _variable_names(caller) if caller is not None else {}
    labels.update({id(t): name for name, t in (names or {}).items()})
    tensors = _tensors(root)
    leaves = [t for t in tensors if t._ctx is None and t.requires_grad]
    if gradients is None:
        gradients = root.requires_grad and any(t.grad is not None for t in leaves)
    grads: dict[int, Any] = {}
    if gradients:
        if root.size != 1:
            raise ArgumentError(
                f"draw: gradients are d(root)/d(node) for a scalar root; got shape {root.shape}"
            )
        if not root.requires_grad:
            raise ArgumentError("draw: gradients=True, but the root does not require grad")
        wanted = [t for t in tensors if t.requires_grad]
        found = engine.grad(root, wanted, retain_graph=True, allow_unused=True)
        grads = {id(t): g for t, g in zip(wanted, found)}

    def name_of(t: Tensor) -> str | None:
        return t.name or labels.get(id(t))

    root_name = name_of(root) or "out"
    keys = {id(t): f"t{i}" for i, t in enumerate(tensors)}  # not list.index: == is elementwise
    nodes = []
    for t in tensors:
        name = name_of(t)
        lines = []
        if t._ctx is None:
            kind = "leaf" if t.requires_grad else "constant"
            lines.append(f"{name} = {_value(t)}" if name else _value(t))
        else:
            kind = "root" if t is root else "op"
            expression = _expression(t._ctx, name_of)
            lines.append(f"{name} = {expression}" if name else expression)
            lines.append(f"= {_value(t)}")
        if id(t) in grads and grads[id(t)] is not None and t is not root:
            lines.append(f"d{root_name}/d{name or 'this'} = {_value(grads[id(t)])}")
        inputs = [keys[id(p)] for p in (t._ctx.inputs if t._ctx else ())]
        nodes.append(Node(keys[id(t)], lines, kind, inputs))
    return GraphDrawing(nodes, title)


class GraphDrawing:
    """A drawn graph: ``.dot`` (Graphviz source), ``.svg()``, ``.png()``, ``.save(path)``;
    shown inline by Jupyter."""

    def __init__(self, nodes: list[Node], title: str | None = None) -> None:
        self.nodes = nodes
        self.title = title

    @property
    def dot(self) -> str:
        """The Graphviz DOT source, inputs below outputs."""
        lines = ["digraph chainrule {", "  rankdir=BT;"]
        lines.append('  node [shape=box, style="rounded,filled", fontname="Helvetica"];')
        if self.title:
            lines.append(f'  label="{_escape(self.title)}"; labelloc=t;')
        for node in self.nodes:
            label = "\\n".join(_escape(line) for line in node.lines)
            lines.append(f'  {node.key} [fillcolor="{COLOURS[node.kind]}", label="{label}"];')
        lines += [f"  {i} -> {node.key};" for node in self.nodes for i in node.inputs]
        return "\n".join([*lines, "}"]) + "\n"

    def svg(self, engine: str | None = None) -> str:
        return self._render("svg", engine).decode("utf-8")

    def png(self, engine: str | None = None) -> bytes:
        return self._render("png", engine)

    def save(self, path: str | os.PathLike[str], engine: str | None = None) -> Path:
        """Write ``.svg``, ``.png`` or ``.dot`` (by the suffix), atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".svg", ".png", ".dot", ".gv"):
            raise ArgumentError(
                f"GraphDrawing.save: expected a .svg, .png or .dot path; got {path}"
            )
        data = self.dot.encode() if suffix in (".dot", ".gv") else self._render(suffix[1:], engine)
        atomic_write_bytes(path, data)
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"<GraphDrawing of {len(self.nodes)} nodes; .dot, .svg(), .png(), .save(path)>"

    def _render(self, fmt: str, engine: str | None) -> bytes:
        """``engine``: "dot" (Graphviz), "matplotlib", or None (dot if installed)."""
        if engine not in (None, "dot", "matplotlib"):
            raise ArgumentError(f"engine must be 'dot', 'matplotlib' or None; got {engine!r}")
        program = shutil.which("dot")
        if engine == "dot" and program is None:
            raise ArgumentError("engine='dot' needs Graphviz's dot program, which is not on PATH")
        if program is not None and engine != "matplotlib":
            done = subprocess.run(
                [program, f"-T{fmt}"], input=self.dot.encode(), capture_output=True, check=False
            )
            if done.returncode == 0:
                return done.stdout
            raise GraphError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace')}")
        return _matplotlib(self, fmt)


def _tensors(root: Tensor) -> list[Tensor]:
    """Every tensor of the graph, leaves and constants included, inputs before outputs."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
        elif id(tensor) not in seen:
            seen.add(id(tensor))
            stack.append((tensor, True))
            if tensor._ctx is not None:
                stack.extend((p, False) for p in reversed(tensor._ctx.inputs))
    return order


def _variable_names(frame: Any) -> dict[int, str]:
    """id(tensor) -> the caller's variable holding it (locals win over globals)."""
    names: dict[int, str] = {}
    for scope in (frame.f_globals, frame.f_locals):
        for name, value in list(scope.items()):
            if isinstance(value, Tensor) and not name.startswith("_"):
                names[id(value)] = name
    return names


def _expression(ctx: Any, name_of: Any) -> str:
    operands = [name_of(t) or (_value(t) if t._ctx is None else "(.)") for t in ctx.inputs]
    symbol = INFIX.get(ctx.name)
    if symbol and len(operands) == 2:
        return f"{operands[0]} {symbol} {operands[1]}"
    return f"{ctx.name.lower()}({', '.join(operands)})"


def _value(t: Tensor) -> str:
    """A value as a label shows it: the number, a few numbers, or the shape."""
    array = np.asarray(t.numpy() if isinstance(t, Tensor) else t)
    if array.size == 1:
        return f"{array.item():.4g}"
    if array.size <= 4:
        return np.array2string(array.ravel(), precision=3, separator=", ")
    return "x".join(str(n) for n in array.shape) + " values"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _matplotlib(drawing: GraphDrawing, fmt: str) -> bytes:
    """Lay the graph out in rows (inputs below) and draw it with matplotlib's Agg canvas."""
    level: dict[str, int] = {}
    for node in drawing.nodes:  # inputs come first, so their levels are known
        level[node.key] = 1 + max((level[i] for i in node.inputs), default=-1)
    rows: dict[int, list[Node]] = {}
    for node in drawing.nodes:
        rows.setdefault(level[node.key], []).append(node)
    width = max(len(row) for row in rows.values())
    longest = max(len(line) for node in drawing.nodes for line in node.lines)
    column = max(1.6, 0.09 * longest + 0.5)
    figure = _figure(column * width + 0.4, 1.25 * len(rows) + 0.5 + 0.3 * bool(drawing.title))
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    if drawing.title:
        ax.set_title(drawing.title)
    artists: dict[str, Any] = {}
    for y, row in rows.items():
        offset = (width - len(row)) / 2
        for x, node in enumerate(row):
            artists[node.key] = ax.text(
                offset + x,
                y,
                "\n".join(node.lines),
                ha="center",
                va="center",
                fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "fc": COLOURS[node.kind], "ec": "#555555"},
            )
    for node in drawing.nodes:
        for source in node.inputs:
            ax.annotate(
                "",
                xy=(0.5, 0.0),
                xycoords=artists[node.key],
                xytext=(0.5, 1.0),
                textcoords=artists[source],
                arrowprops={"arrowstyle": "-|>", "color": "#555555", "shrinkA": 4, "shrinkB": 4},
            )
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()
