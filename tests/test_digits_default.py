"""The default experiment, ``digits``, reaches its accuracy offline in a few seconds."""

import time

from chainrule.experiments import load_config, run_experiment


def test_digits_experiment_reaches_97_percent_on_its_test_set(tmp_path):
    start = time.perf_counter()
    result = run_experiment(load_config("digits"), tmp_path / "run", verbose=0)
    seconds = time.perf_counter() - start
    print(f"digits: {100 * result.test_accuracy:.2f}% test accuracy in {seconds:.1f}s")
    assert result.test_accuracy >= 0.97
    assert result.metrics["test"]["samples"] == 360
    assert result.metrics["epochs_run"] == 30
