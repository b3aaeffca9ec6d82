"""Shared fixtures: every test starts from the same library seed."""

import os
from pathlib import Path

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


@pytest.fixture(autouse=True)
def _seeded():
    chainrule.manual_seed(0)
    yield
