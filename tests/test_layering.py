"""The package layers of DESIGN.md hold: each imports only those above it. Checked on the
source (every import, at module level or inside a function), so a lazy import counts too."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chainrule"

# (package, packages it must never import, at any depth)
FORBIDDEN = [
    ("data", {"nn", "train"}),
    ("optim", {"nn", "train"}),
    ("autograd", {"nn", "train"}),
    ("ops", {"nn", "train", "optim"}),
    ("checks.py", {"nn", "ops", "autograd", "train", "optim", "data"}),
]


def imported_packages(path):
    """(line, first package under chainrule) of every absolute chainrule import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "chainrule":  # from chainrule import nn, optim
                modules = [f"chainrule.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, m.split(".")[1]) for m in modules if m.startswith("chainrule.")]
    return found


def files(part):
    path = PACKAGE / part
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


CASES = [(path, banned) for part, banned in FORBIDDEN for path in files(part)]


@pytest.mark.parametrize("path, banned", CASES, ids=[str(p.relative_to(PACKAGE)) for p, _ in CASES])
def test_a_layer_imports_nothing_below_it(path, banned):
    bad = [(line, package) for line, package in imported_packages(path) if package in banned]
    assert bad == [], (
        f"{path.relative_to(PACKAGE)} imports {bad} (line, package); DESIGN.md forbids it"
    )


def test_nothing_but_the_entry_points_imports_the_cli():
    entry = {PACKAGE / "__main__.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in entry or "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        bad = [line for line, package in imported_packages(path) if package == "cli"]
        assert bad == [], f"{path.relative_to(PACKAGE)} imports chainrule.cli at lines {bad}"
