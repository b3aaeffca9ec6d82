"""Named experiments: a TOML file says what to train, ``run_experiment`` writes a run directory.

``load_config("digits")`` reads a shipped experiment (``named_experiments()`` lists them)
or any TOML file; ``run_experiment(config, "runs/digits")`` trains it, tests it, and
writes the config, history, checkpoints, metrics and plots. The schema is described in
``chainrule.experiments.config``; the ``chainrule`` command drives all of this.
"""

from chainrule.experiments.config import ExperimentConfig, to_toml
from chainrule.experiments.layers import LAYERS, build_model
from chainrule.experiments.members import adopt_member
from chainrule.experiments.parse import (
    find_experiment,
    load_config,
    loads,
    named_experiments,
    read_experiment,
)
from chainrule.experiments.runner import (
    RunDirectoryError,
    RunResult,
    default_run_dir,
    evaluate_run,
    load_run,
    run_experiment,
)
from chainrule.experiments.schema import ConfigError

__all__ = [
    "LAYERS",
    "ConfigError",
    "ExperimentConfig",
    "RunDirectoryError",
    "RunResult",
    "adopt_member",
    "build_model",
    "default_run_dir",
    "evaluate_run",
    "find_experiment",
    "load_config",
    "load_run",
    "loads",
    "named_experiments",
    "read_experiment",
    "run_experiment",
    "to_toml",
]
