"""The README is true: every ```python block runs, every `chainrule` command in a ```bash
block runs (in order, in one directory, on a few dozen images), the TOML blocks parse
and train, and the error message it shows is the one the command prints.

A new ```python block is picked up by itself. One that imports an optional package (or
reaches a chainrule feature that needs one) is skipped, naming the package. A ```bash
line that is not a `chainrule` command must be listed in ``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import cmd_train, main
from chainrule.diagnose import doctor_plots
from chainrule.experiments import data_prep, runner
from chainrule.train import loop
from conftest import MNIST_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
HAVE_MNIST = (MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # README line of the opening fence
    text: str

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks(language: str | None = None) -> list[Block]:
    """The fenced code blocks of README.md (of one language, if given), in order."""
    blocks, current, start, body = [], None, 0, []
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if current is None and line.startswith("```"):
            current, start, body = line[3:].strip(), number, []
        elif current is not None and line.startswith("```"):
            blocks.append(Block(current, start, "\n".join(body) + "\n"))
            current = None
        elif current is not None:
            body.append(line)
    assert current is None, f"README.md:{start}: a ``` fence is never closed"
    return [b for b in blocks if language is None or b.language == language]


# Shell lines the test does not run, and why. A new line that is neither a `chainrule`
# command nor listed here fails `test_every_bash_line_is_run_or_says_why_not`.
NOT_RUN = {
    "python3 -m venv": "creates an environment and installs into it: CI runs this very line (.ci/run)",
    "pip install": "installs packages: needs the network; CI installs the dev extras",
    "mpiexec": "needs an MPI launcher and several processes: tests/test_distributed.py runs them",
    "chainrule playground": "serves until Ctrl-C: tests/test_playground_*.py start it and drive it",
}


def bash_lines() -> list[tuple[Block, str]]:
    """Each command line of the ```bash blocks, comments cut; a `for ...; do CMD & done;
    wait` loop becomes one line per value (run one after the other here)."""
    lines = []
    for block in readme_blocks("bash"):
        for raw in block.text.splitlines():
            line = re.sub(r"\s+#.*$", "", raw).strip()
            loop_match = re.fullmatch(r"for (\w+) in ([\w ]+); do (.+?) &? ?done; wait", line)
            if loop_match:
                name, values, command = loop_match.groups()
                for value in values.split():
                    lines.append((block, command.replace(f"${name}", value).rstrip(" &")))
            elif line:
                lines.append((block, line))
    return lines


def test_the_readme_has_the_blocks_this_test_reads():
    assert len(readme_blocks("python")) >= 3
    assert any(line.startswith("chainrule ") for _, line in bash_lines())
    assert len(readme_blocks("toml")) >= 2


def test_every_bash_line_is_run_or_says_why_not():
    unexplained = [
        f"{block}: {line}"
        for block, line in bash_lines()
        if not line.startswith("chainrule ") and not any(map(line.startswith, NOT_RUN))
    ]
    assert not unexplained, (
        f"run these in tests/test_readme.py or add a reason to NOT_RUN: {unexplained}"
    )


# --------------------------------------------------------------------------- python blocks
def _skip_unless_importable(block: Block) -> None:
    for node in ast.walk(ast.parse(block.text)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top != "chainrule" and importlib.util.find_spec(top) is None:
                pytest.skip(f"{block} needs {top}, which is not installed")


@pytest.fixture
def short_training(monkeypatch):
    """Every fit trains at most 3 epochs: the README's blocks run, not its full budgets."""
    fit = loop.Trainer.fit

    def capped(self, *args, epochs, **kwargs):
        return fit(self, *args, epochs=min(epochs, 3), **kwargs)

    monkeypatch.setattr(loop.Trainer, "fit", capped)


@pytest.mark.parametrize("block", readme_blocks("python"), ids=str)
def test_python_block_runs(block, tmp_path, monkeypatch, short_training, capsys):
    _skip_unless_importable(block)
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(block.text, str(block), "exec"), {"__name__": "__readme__"})
    except ImportError as error:
        if "chainrule[" in str(error):  # a feature that names its optional extra
            pytest.skip(f"{block}: {error}")
        raise
    for line in block.text.splitlines():  # `print(...)  # expected output` is checked
        match = re.fullmatch(r"print\(.*\)\s+# (tensor\(.*)", line)
        if match:
            assert match.group(1) in capsys.readouterr().out, f"{block}: {line}"


# --------------------------------------------------------------------------- bash and TOML
def _toml_block(marker: str) -> Block:
    return next(b for b in readme_blocks("toml") if marker in b.text)


@pytest.fixture
def small_experiments(monkeypatch):
    """Experiments train on 64 images, test on 32, hold out 16, run 1-2 epochs, and an
    ensemble has two members (the README's loop runs members 0 and 1)."""
    load_splits = data_prep.load_splits
    cache: dict = {}
    loads = cmd_train.loads
    run_experiment = cmd_train.run_experiment

    def small_splits(config):
        if config.data.name not in cache:  # MNIST is read once, not once per command
            (x, y), (x_test, y_test) = load_splits(config)
            cache[config.data.name] = (x[:64], y[:64]), (x_test[:32], y_test[:32])
        return cache[config.data.name]

    def small_config(*source):
        config = loads(*source)
        validation = config.data.validation
        subset = config.data.train_subset and 32  # within the 64 images here
        data = replace(
            config.data,
            validation=16 if isinstance(validation, int) else validation,
            train_subset=subset,
        )
        training = replace(config.training, epochs=1)
        ensemble = config.ensemble and replace(config.ensemble, members=2)
        return replace(config, data=data, training=training, ensemble=ensemble)

    def few_epochs(config, run_dir, epochs=None, **kwargs):
        return run_experiment(config, run_dir, epochs=epochs and min(epochs // 5 or 1, 2), **kwargs)

    monkeypatch.setattr(data_prep, "load_splits", small_splits)
    monkeypatch.setattr(runner, "_plots", lambda *args: None)  # tests/test_plots.py draws them
    monkeypatch.setattr(doctor_plots, "plot_gradient_norms", lambda *args: None)
    monkeypatch.setattr(cmd_train, "loads", small_config)
    monkeypatch.setattr(cmd_train, "run_experiment", few_epochs)
    monkeypatch.setenv("CHAINRULE_DATA", str(MNIST_DIR))


@pytest.mark.skipif(
    not HAVE_MNIST, reason=f"the README's commands train on MNIST, not in {MNIST_DIR}"
)
def test_chainrule_commands_run_in_order(tmp_path, monkeypatch, small_experiments, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-experiment.toml").write_text(_toml_block("[model]").text, encoding="utf-8")
    ran = 0
    for block, line in bash_lines():
        for command in line.split(" && "):
            if re.search(r"--member [2-9]", command):
                continue  # the fixture's ensembles have members 0 and 1
            if command.startswith("chainrule ") and not any(map(command.startswith, NOT_RUN)):
                code = main(command.split()[1:])
                _, err = capsys.readouterr()
                assert code == 0, f"{block}: `{command}` exited {code}: {err}"
                ran += 1
    assert ran >= 10


def test_the_error_shown_is_the_error_printed(tmp_path, monkeypatch, capsys):
    """The ```text block's message comes from the README's TOML with `lr` misspelt."""
    shown = readme_blocks("text")[0].text.strip()
    command = re.search(r"^chainrule: error: (\S+): ", shown).group(1)
    monkeypatch.chdir(tmp_path)
    experiment = _toml_block("[model]").text.replace("\nlr = ", "\nlrr = ", 1)
    (tmp_path / command).write_text(experiment, encoding="utf-8")
    assert main(["train", command]) == 2
    assert capsys.readouterr().err.strip() == shown


def test_the_search_example_runs_on_its_experiment(tmp_path, monkeypatch, capsys, short_training):
    pytest.importorskip("optuna", reason="the README's search is Bayesian: needs optuna")
    monkeypatch.chdir(tmp_path)
    search = re.sub(r"trials = \d+", "trials = 2", _toml_block("[space]").text)
    (tmp_path / "search.toml").write_text(search, encoding="utf-8")
    monkeypatch.setattr(
        data_prep,
        "load_splits",
        lambda config, load=data_prep.load_splits: tuple(
            (x[:400], y[:400]) for x, y in load(config)
        ),
    )
    code = main(["tune", "search.toml", "--dir", "search"])
    assert code == 0, capsys.readouterr().err
    assert len((tmp_path / "search" / "trials.csv").read_text().splitlines()) == 3


def test_the_first_block_gives_the_lectures_gradients(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it saves graph.svg
    block = readme_blocks("python")[0]
    namespace: dict = {}
    exec(compile(block.text, str(block), "exec"), namespace)
    assert namespace["a"].grad.item() == 2.0 and namespace["b"].grad.item() == 5.0
    assert isinstance(namespace["e"], chainrule.Tensor)
    assert np.isclose(namespace["e"].item(), 6.0)


def test_the_shipped_list_names_every_named_experiment():
    from chainrule.experiments import named_experiments

    text = README.read_text(encoding="utf-8")
    shipped = text[text.index("Shipped:") : text.index("Each file's `reference`")]
    missing = [name for name in named_experiments() if f"`{name}`" not in shipped]
    assert not missing, f"README's Shipped list lacks {missing}"
