"""``cr.viz.draw``: the lecture's picture of e = (a + b) * (b + 1), before and after backward."""

import importlib.util
import shutil
import warnings

import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, GraphError

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def lecture_graph():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(1.0, requires_grad=True)
    c = a + b
    d = b + 1
    e = c * d
    return a, b, c, d, e


def labels(drawing):
    return {node.lines[0]: node.lines[1:] for node in drawing.nodes}


def test_draw_names_every_node_from_the_variables_with_op_and_value():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(1.0, requires_grad=True)
    c = a + b
    d = b + 1
    e = c * d
    drawing = cr.viz.draw(e)
    assert labels(drawing) == {
        "a = 2": [],
        "b = 1": [],
        "c = a + b": ["= 3"],
        "1": [],
        "d = b + 1": ["= 2"],
        "e = c * d": ["= 6"],
    }


def test_draw_after_backward_shows_the_lectures_gradients():
    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(1.0, requires_grad=True)
    c = a + b
    d = b + 1
    e = c * d
    e.backward(retain_graph=True)
    drawing = cr.viz.draw(e)
    assert labels(drawing) == {
        "a = 2": ["de/da = 2"],
        "b = 1": ["de/db = 5"],
        "c = a + b": ["= 3", "de/dc = 2"],
        "1": [],
        "d = b + 1": ["= 2", "de/dd = 3"],
        "e = c * d": ["= 6"],
    }
    assert a.grad.item() == 2.0 and b.grad.item() == 5.0  # drawing changed no .grad
    assert "t1 -> t2;" in drawing.dot and drawing.dot.count("->") == 6


def test_names_given_win_over_variables():
    x = cr.tensor(3.0, requires_grad=True, name="input")
    y = x * x
    drawing = cr.viz.draw(y, names={"square": y})
    assert [n.lines[0] for n in drawing.nodes] == ["input = 3", "square = input * input"]


def test_draw_refuses_a_graph_backward_freed_and_says_how_to_keep_it():
    *_, e = lecture_graph()
    e.backward()
    with pytest.raises(GraphError, match=r"freed by backward\(\).*retain_graph=True"):
        cr.viz.draw(e)
    with pytest.raises(GraphError, match="to_dot: the graph of this tensor was freed"):
        cr.viz.to_dot(e)


def test_draw_refuses_gradients_of_a_non_scalar():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ArgumentError, match=r"scalar root; got shape \(2,\)"):
        cr.viz.draw(x * 2, gradients=True)


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="the fallback renderer needs matplotlib")
def test_matplotlib_renders_svg_and_png_for_jupyter_without_warnings(tmp_path):
    *_, e = lecture_graph()
    e.backward(retain_graph=True)
    drawing = cr.viz.draw(e, title="e = (a + b) * (b + 1)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = drawing.svg(engine="matplotlib")
        png = drawing.png(engine="matplotlib")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert png.startswith(b"\x89PNG")
    assert drawing.save(tmp_path / "g.png", engine="matplotlib").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "g.dot").exists() is False
    assert drawing.save(tmp_path / "g.dot").read_text().startswith("digraph")
    assert callable(drawing._repr_svg_) and callable(drawing._repr_png_)
    with pytest.raises(ArgumentError, match=r"expected a \.svg, \.png or \.dot path"):
        drawing.save(tmp_path / "g.jpg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_renders_svg_when_dot_is_installed():
    *_, e = lecture_graph()
    assert "<svg" in cr.viz.draw(e).svg(engine="dot")


def test_asking_for_dot_without_graphviz_says_so(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    *_, e = lecture_graph()
    with pytest.raises(ArgumentError, match="needs Graphviz's dot program"):
        cr.viz.draw(e).svg(engine="dot")
