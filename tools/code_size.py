"""Files over 400 lines and functions over 50 lines in ``src/chainrule``.

Run from the repository root: ``python tools/code_size.py`` (``--root`` for another
tree). A function's length is its span in the file, decorators and docstring included;
a method is named ``Class.method``, a nested function ``outer.<locals>.inner``.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

FILE_LIMIT = 400
FUNCTION_LIMIT = 50


def function_lengths(tree: ast.Module) -> list[tuple[str, int, int]]:
    """(qualified name, first line, number of lines) of every function in ``tree``."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                name = f"{prefix}{child.name}"
                found.append((name, first, child.end_lineno - first + 1))
                visit(child, f"{name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="src/chainrule", help="the package to measure")
    args = parser.parse_args()
    root = Path(args.root)
    long_files: list[tuple[str, int]] = []
    long_functions: list[tuple[str, int]] = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root.parent).as_posix()
        lines = len(text.splitlines())
        if lines > FILE_LIMIT:
            long_files.append((where, lines))
        for name, first, length in function_lengths(ast.parse(text, filename=str(path))):
            if length > FUNCTION_LIMIT:
                long_functions.append((f"{where}:{first} {name}", length))
    print(f"files over {FILE_LIMIT} lines: {len(long_files)}")
    for where, lines in sorted(long_files, key=lambda item: -item[1]):
        print(f"  {lines:5d}  {where}")
    print(f"functions over {FUNCTION_LIMIT} lines: {len(long_functions)}")
    for where, length in sorted(long_functions, key=lambda item: -item[1]):
        print(f"  {length:5d}  {where}")


if __name__ == "__main__":
    main()
