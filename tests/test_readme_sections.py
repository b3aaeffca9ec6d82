"""Every generated section of the README is what its benchmark's JSON makes of it.

A figure typed into a generated section, or a JSON file updated without rewriting the
README, fails here: the README's numbers are measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

# section name -> (benchmark module, function writing the section, its results file)
SECTIONS = {
    "sklearn-timing": ("sklearn_breast_cancer", "table", "sklearn_breast_cancer.json"),
    "covariate-shift": ("covariate_shift", "table", "covariate_shift.json"),
    "playground": ("bench_playground", "readme_text", "playground.json"),
    "onnx": ("onnx_match", "table", "onnx_match.json"),
    "transfer": ("transfer", "table", "transfer.json"),
    "second-order": ("second_order", "readme_table", "second_order.json"),
    "speedrun": ("speedrun", "readme_table", "speedrun.json"),
    "race": ("race", "readme_table", "race.json"),
    "engine": ("bench_engine", "readme_table", "engine.json"),
    "scaling": ("scaling", "readme_section", "scaling.json"),
    "reproduce": ("reproduce", "table", "reproduce.json"),
    "memory": ("bench_memory", "readme_text", "memory.json"),
    "doctor": ("bench_doctor", "readme_text", "doctor.json"),
}


def test_every_generated_section_of_the_readme_is_listed_here():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = {line[5:-10] for line in text.splitlines() if line.endswith(":begin -->")}
    assert found == set(SECTIONS)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_readme_section_is_generated_from_its_json(name):
    module_name, function, results = SECTIONS[name]
    if module_name == "onnx_match":
        pytest.importorskip("onnxruntime")
    module = load_benchmark(f"{module_name}.py")
    readme = load_benchmark("_readme.py")
    data = json.loads((BENCHMARKS / "results" / results).read_text(encoding="utf-8"))
    expected = getattr(module, function)(data).strip()
    assert readme.section(readme.README, *readme.markers(name)) == expected, (
        f"README's {name} section differs from what benchmarks/{module_name}.py writes from "
        f"benchmarks/results/{results}: rerun it with its README option"
    )
