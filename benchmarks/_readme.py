"""The README's generated sections: each lies between a ``<!-- name:begin -->`` and a
``<!-- name:end -->`` line and is written only from a benchmark's JSON results."""

from __future__ import annotations

from pathlib import Path

from chainrule.train.serialization import atomic_write_text

README = Path(__file__).resolve().parent.parent / "README.md"


def markers(name: str) -> tuple[str, str]:
    """The (begin, end) marker lines of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def section(path: str | Path, begin: str, end: str) -> str:
    """What lies between the ``begin`` and ``end`` markers of a file, stripped."""
    content = Path(path).read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{path} has no {begin} ... {end} markers")
    return content.split(begin, 1)[1].split(end, 1)[0].strip()


def replace_between(path: str | Path, begin: str, end: str, text: str) -> None:
    """Replace what lies between the ``begin`` and ``end`` markers of a file (atomically)."""
    content = Path(path).read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{path} has no {begin} ... {end} markers")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, f"{head}{begin}\n{text.strip()}\n{end}{tail}")
