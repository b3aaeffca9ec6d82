"""Shared fixtures: every test starts from the same library seed."""

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

import chainrule


def _find_mnist() -> Path:
    """The shared MNIST files: $CHAINRULE_TEST_MNIST, ../shared beside the repo, or /work/shared."""
    candidates = [
        os.environ.get("CHAINRULE_TEST_MNIST"),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist",
        "/work/shared/data/mnist",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return Path(candidates[1])


MNIST_DIR = _find_mnist()
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(filename: str) -> ModuleType:
    """A script of benchmarks/ as a module, its helpers (``_readme``, ``_timing``...) found
    as they are when it runs as a script: from its own folder."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            f"{Path(filename).stem}_benchmark", BENCHMARKS / filename
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture(autouse=True)
def _seeded():
    chainrule.manual_seed(0)
    yield
