"""How many ``Any`` the annotations of public functions and methods hold (issue 20's figure).

    python tools/count_any.py [src/chainrule]

Counts every ``Any`` name inside the parameter and return annotations of functions whose
name does not start with ``_``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def count(root: Path) -> int:
    total = 0
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_"):
                continue
            args = node.args
            annotations = [
                a.annotation
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                if a is not None and a.annotation is not None
            ]
            if node.returns is not None:
                annotations.append(node.returns)
            for annotation in annotations:
                for n in ast.walk(annotation):
                    if isinstance(n, ast.Name) and n.id == "Any":
                        total += 1
                    elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                        total += n.value.count("Any")
    return total


if __name__ == "__main__":
    print(count(Path(sys.argv[1] if len(sys.argv) > 1 else "src/chainrule")))
