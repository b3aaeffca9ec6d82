"""The layers of ARCHITECTURE.md, enforced: every import of one chainrule package by
another, at module level or inside a function, is an arrow the table below allows.

Imports under ``if TYPE_CHECKING:`` are exempt: they never run, so they cannot make a
cycle or drag a layer in at import time; they only name types for the checker.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chainrule"

# The layers, top to bottom, as in ARCHITECTURE.md. A package may import the packages
# listed for it and nothing else from chainrule. ``checks`` is the argument-check module
# next to errors.py (part A of issue 20); listing it before it exists costs nothing.
BASE = {"errors", "checks"}
ENGINE = BASE | {"backend", "autograd", "ops", "functional"}
MODEL = ENGINE | {"nn", "optim", "data", "train"}
TOOLS = {"model_selection", "tune", "ensemble", "onnx"}
APPS = {"cli", "experiments", "playground"}
ALLOWED = {
    "errors": set(),
    "checks": {"errors"},
    "backend": BASE,
    "autograd": BASE | {"backend"},
    "ops": BASE | {"backend", "autograd"},
    "functional": BASE | {"ops"},
    "nn": ENGINE,
    "optim": ENGINE,  # never nn: an optimiser sees Tensors, not Modules
    "data": ENGINE,  # never nn or optim
    "train": MODEL,
    **{tool: MODEL | TOOLS for tool in TOOLS},
    "diagnose": MODEL | TOOLS | {"viz"},
    "viz": MODEL | TOOLS,
    "distributed": MODEL | TOOLS,
    "federated": MODEL | TOOLS | {"distributed"},
    "experiments": MODEL | TOOLS | {"diagnose", "viz", "distributed", "federated"},
    "playground": MODEL | TOOLS | {"diagnose", "viz", "distributed", "federated", "experiments"},
    "cli": MODEL | TOOLS | {"diagnose", "viz", "distributed", "federated"} | APPS,
    "__main__": {"cli"},
}
# Importing from the package root runs chainrule/__init__.py, which imports every layer:
# only the applications may, except for the version string.
ROOT_FOR_ALL = {"__version__"}

# (module, imported module) pairs allowed against the table, each with its reason.
EXCEPTIONS = {
    # Tensor's operator methods (x + y, x.sum()) are the ops; tensor.py imports them at
    # its bottom, once Tensor exists.
    ("autograd/tensor.py", "chainrule.ops"),
    # fit(strategy="mpi") names the MPI strategy; imported only when asked for.
    ("train/strategy.py", "chainrule.distributed"),
}


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def chainrule_imports(path, package_root=PACKAGE):
    """(line, imported module) of every chainrule import in ``path``, anywhere in it
    (module level, functions, classes), except under ``if TYPE_CHECKING:``.
    ``from chainrule import nn`` counts as importing ``chainrule.nn``."""
    parts = ["chainrule", *path.relative_to(package_root).with_suffix("").parts]
    package = parts[:-1]  # what a relative import of level 1 is relative to
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    module = ".".join([*base, module] if module else base)
                if module == "chainrule":
                    found.extend((child.lineno, f"chainrule.{a.name}") for a in child.names)
                else:
                    found.append((child.lineno, module))
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return [(line, name) for line, name in found if name.split(".")[0] == "chainrule"]


def layer_of(path, package_root=PACKAGE):
    """The package (or top-level module) of chainrule that ``path`` belongs to."""
    rel = path.relative_to(package_root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def violations(path, package_root=PACKAGE):
    """'module:line imports X' for each import ``path`` makes that the table refuses."""
    rel = path.relative_to(package_root).as_posix()
    layer = layer_of(path, package_root)
    if layer == "__init__":  # the root gathers the public API from every layer
        return []
    subpackages = {p.stem for p in package_root.iterdir() if p.suffix == ".py" or p.is_dir()}
    bad = []
    for line, name in chainrule_imports(path, package_root):
        target = name.split(".")[1] if "." in name else "__init__"
        if target not in subpackages:  # a name from the root: chainrule.__version__
            if target in ROOT_FOR_ALL or layer in APPS | {"__main__"}:
                continue
            target = "chainrule"
        if target == layer or target in ALLOWED.get(layer, set()):
            continue
        if (rel, name) in EXCEPTIONS:
            continue
        allowed = ", ".join(sorted(ALLOWED.get(layer, set()) - {layer})) or "nothing from chainrule"
        bad.append(f"src/chainrule/{rel}:{line} imports {name}: {layer} may import {allowed}")
    return bad


def all_modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_package_is_in_the_table():
    layers = {layer_of(p) for p in all_modules()} - {"__init__"}
    assert layers - ALLOWED.keys() == set(), "add the new package to ALLOWED and ARCHITECTURE.md"


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_the_layers_it_may(path):
    bad = violations(path)
    assert bad == [], "imports against ARCHITECTURE.md's layers:\n" + "\n".join(bad)


def test_each_exception_is_still_needed():
    found = {
        (path.relative_to(PACKAGE).as_posix(), name)
        for path in all_modules()
        for _, name in chainrule_imports(path)
    }
    stale = sorted(EXCEPTIONS - found)
    assert stale == [], f"no longer imported, delete from EXCEPTIONS: {stale}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("data", "nn"),
        ("optim", "nn"),
        ("autograd", "nn"),
        ("autograd", "optim"),
        ("autograd", "data"),
        ("autograd", "train"),
        ("ops", "nn"),
        ("backend", "autograd"),
        ("experiments", "cli"),
        ("train", "cli"),
    ],
)
def test_the_table_forbids_the_never_arrows(layer, forbidden):
    assert forbidden not in ALLOWED[layer]


def test_backend_imports_nothing_from_chainrule_but_errors():
    assert ALLOWED["backend"] - {"errors", "checks"} == set()


def test_nothing_imports_cli():
    importers = [layer for layer, allowed in ALLOWED.items() if "cli" in allowed - {layer}]
    assert importers == ["__main__"]


def test_the_check_finds_every_form_of_import_and_names_it(tmp_path):
    root = tmp_path / "chainrule"
    (root / "optim").mkdir(parents=True)
    (root / "nn").mkdir()
    (root / "backend").mkdir()
    (root / "__init__.py").write_text("")
    module = root / "optim" / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import chainrule.nn.module\n"
        "from chainrule import nn, backend\n"
        "from ..nn import linear\n"
        "from chainrule import __version__\n"
        "def f():\n"
        "    from chainrule.nn.utils import x\n"
        "if TYPE_CHECKING:\n"
        "    from chainrule.nn import Module\n"
    )
    assert chainrule_imports(module, root) == [
        (2, "chainrule.nn.module"),
        (3, "chainrule.nn"),
        (3, "chainrule.backend"),
        (4, "chainrule.nn"),
        (5, "chainrule.__version__"),
        (7, "chainrule.nn.utils"),
    ]
    bad = violations(module, root)
    assert [b.split(":")[1].split(" ")[0:3] for b in bad] == [
        ["2", "imports", "chainrule.nn.module"],
        ["3", "imports", "chainrule.nn"],
        ["4", "imports", "chainrule.nn"],
        ["7", "imports", "chainrule.nn.utils"],
    ]
    assert bad[0].startswith("src/chainrule/optim/bad.py:2 imports chainrule.nn.module: optim may")
