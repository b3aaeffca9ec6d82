"""benchmarks/reproduce.py: a row run over several seeds, and how the README table shows it."""

import statistics

from conftest import load_benchmark


def _module():
    return load_benchmark("reproduce.py")


def test_a_row_over_seeds_is_their_mean_and_deviation_and_the_table_says_so(tmp_path):
    module = _module()
    row = module.run_seeds("xor", 2, tmp_path, seeds=3)
    assert row["seeds"] == [0, 1, 2]
    assert all((tmp_path / "xor" / f"seed-{s}" / "metrics.json").is_file() for s in range(3))
    accuracies = row["seed_accuracies"]
    assert len(accuracies) == 3
    assert abs(row["test_accuracy"] - statistics.mean(accuracies)) < 0.006  # rounded to 0.01
    assert abs(row["test_accuracy_std"] - statistics.stdev(accuracies)) < 0.006
    text = module.table({"keras-mlp": {**row, "lecture_accuracy": 98.4}})
    line = next(x for x in text.splitlines() if "(`keras-mlp`)" in x)
    assert f"**{row['test_accuracy']:.2f} ± {row['test_accuracy_std']:.2f}%**" in line
    assert "over seeds 0-2: " + ", ".join(f"{a:.2f}" for a in accuracies) in line
