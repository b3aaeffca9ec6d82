"""Shared fixtures: every test starts from the same library seed."""

import os
from pathlib import Path

import pytest

import chainrule

MNIST_DIR = Path(
    os.environ.get(
        "CHAINRULE_TEST_MNIST", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    )
)


@pytest.fixture(autouse=True)
def _seeded():
    chainrule.manual_seed(0)
    yield
