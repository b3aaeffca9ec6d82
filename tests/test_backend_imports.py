"""The engine reaches NumPy and CuPy only through chainrule.backend, so the same code
runs on either: no module of autograd, ops, nn or optim imports them itself."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chainrule"
ENGINE = ["autograd", "ops", "nn", "optim"]
FORBIDDEN = {"numpy", "cupy", "cupyx"}


def array_library_imports(path):
    """(line, module) of every import of NumPy or CuPy in the file at ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def engine_modules():
    return sorted(p for package in ENGINE for p in (PACKAGE / package).rglob("*.py"))


def test_the_engine_has_modules_to_check():
    assert len(engine_modules()) > 20


@pytest.mark.parametrize("path", engine_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_module_does_not_import_numpy_or_cupy(path):
    assert array_library_imports(path) == [], (
        f"{path.relative_to(PACKAGE)} imports an array library directly; "
        "use chainrule.backend.get_array_module (or backend.kernels) instead"
    )


def test_the_check_finds_every_form_of_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nimport numpy as np\nfrom numpy.lib import stride_tricks\n"
        "import cupy\nfrom cupyx import scatter_add\nfrom . import numpy\n"
    )
    assert array_library_imports(module) == [
        (2, "numpy"),
        (3, "numpy.lib"),
        (4, "cupy"),
        (5, "cupyx"),
    ]
