"""Every figure of a tiny run is drawn without a warning, titled, with integer epoch ticks
(also for one epoch), training and validation in two colours, and nothing drawn twice."""

import importlib.util
import warnings

import numpy as np
import pytest

from chainrule.diagnose import write_plots
from chainrule.experiments import loads, run_experiment
from chainrule.train import History
from chainrule.viz import plots

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="plots need matplotlib"
)

TINY_CNN = """
name = "tiny-cnn"
[data]
name = "digits"
validation = 300
[model]
layers = [
    {type = "conv2d", out = 4, kernel = 3, padding = 1},
    {type = "relu"},
    {type = "maxpool2d", kernel = 2},
    {type = "flatten"},
    {type = "linear", out = 10},
]
[optimizer]
name = "adam"
[training]
epochs = 1
"""


@pytest.fixture
def figures(monkeypatch):
    """Every figure the run saves, kept for inspection."""
    drawn = {}
    save = plots._save

    def keep(figure, path):
        drawn[path.name] = figure
        save(figure, path)

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def test_a_tiny_run_draws_each_figure_once_without_warnings(tmp_path, figures):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_experiment(loads(TINY_CNN), tmp_path / "run", verbose=0)
        doctor = write_plots(tmp_path / "run")
    ours = [w for w in caught if "matplotlib" in w.filename or "chainrule" in w.filename]
    assert not ours, [str(w.message) for w in ours]
    expected = {
        "loss.png",
        "accuracy.png",
        "confusion_matrix.png",
        "misclassified.png",
        "filters.png",
    }
    assert set(figures) == expected
    assert [p.name for p in doctor] == ["gradient_norms.png"]  # no second loss curve
    for name, figure in figures.items():
        titles = [a.get_title() for a in figure.axes] + [
            figure._suptitle.get_text() if figure._suptitle else ""
        ]
        assert any(titles), f"{name} has no title"
    for name in ("loss.png", "accuracy.png"):
        axes = figures[name].axes[0]
        assert list(axes.get_xticks()) == [1.0], f"{name}: one epoch, one tick at 1"
        colours = {line.get_color() for line in axes.get_lines()}
        assert len(colours) == 2 and axes.get_legend() is not None


def test_epoch_ticks_are_whole_numbers_from_1(tmp_path, figures):
    history = History()
    for epoch in range(2):
        history.append(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)})
    plots.plot_curves(history, "loss", tmp_path / "two.png")
    assert list(figures["two.png"].axes[0].get_xticks()) == [1.0, 2.0]
    for epoch in range(2, 40):
        history.append(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)})
    plots.plot_curves(history, "loss", tmp_path / "forty.png")
    ticks = figures["forty.png"].axes[0].get_xticks()
    assert np.all(ticks == np.round(ticks))


def test_the_filters_colour_bar_is_as_tall_as_the_filters(tmp_path, figures):
    plots.plot_filters(np.random.default_rng(0).normal(size=(8, 1, 5, 5)), tmp_path / "f.png")
    figure = figures["f.png"]
    figure.canvas.draw()
    (image_axes,) = figure.axes
    (bar_axes,) = image_axes.child_axes
    image = image_axes.get_images()[0].get_window_extent()
    bar = bar_axes.get_window_extent()
    assert bar.height == pytest.approx(image.height, rel=0.05)
