"""The course's notebooks (notebooks/*.ipynb) run top to bottom without an error, at the
small size CI uses (CHAINRULE_NOTEBOOK_SIZE=small: fewer epochs, the same code), and are
stored without outputs."""

import importlib.util
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MISSING = [
    m
    for m in ("nbclient", "nbformat", "ipykernel", "matplotlib")
    if not importlib.util.find_spec(m)
]


def test_there_is_a_notebook_per_course_topic():
    topics = ["graph", "xor", "losses", "regularisation", "cnn", "optimisation", "practice", "gpus"]
    assert [t for t in topics if not any(t in n.stem for n in NOTEBOOKS)] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} keep outputs; clear them before committing"


@pytest.mark.skipif(bool(MISSING), reason=f"needs the notebooks extra: missing {MISSING}")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_the_small_size(path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("CHAINRULE_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"], path.name
