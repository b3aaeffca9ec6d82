"""viz.optimizer_paths / plot_optimizer_paths: the lecture's pictures of optimisers on an
ill-conditioned quadratic and on Rosenbrock's function."""

import numpy as np
import pytest

from chainrule import optim, viz
from chainrule.errors import ArgumentError
from chainrule.viz.trajectories import SURFACES


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_second_order_paths_reach_the_minimum_in_few_steps(surface):
    paths = viz.optimizer_paths(surface)
    assert set(paths) == {"SGD", "momentum", "Nesterov", "Adam", "L-BFGS", "Newton"}
    minimum = np.array(SURFACES[surface][2])
    start = np.array(SURFACES[surface][1])
    for name in ("L-BFGS", "Newton"):
        points = paths[name]
        np.testing.assert_allclose(points[0], start)
        np.testing.assert_allclose(points[-1], minimum, atol=1e-4)
        assert len(points) - 1 < 60, name
    # SGD's fixed step is still far from Rosenbrock's minimum after its 400 steps
    if surface == "rosenbrock":
        assert np.abs(paths["SGD"][-1] - minimum).max() > 0.5


def test_paths_take_any_optimisers_and_refuse_an_unknown_surface():
    paths = viz.optimizer_paths("quadratic", {"slow": lambda p: optim.SGD(p, lr=0.01)}, steps=5)
    assert paths["slow"].shape == (6, 2)
    with pytest.raises(ArgumentError, match="unknown surface 'bowl'"):
        viz.optimizer_paths("bowl")


def test_plot_optimizer_paths_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="drawing needs matplotlib")
    figure = viz.plot_optimizer_paths(tmp_path / "paths.png", steps=20)
    assert (tmp_path / "paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figure.axes) == 2
