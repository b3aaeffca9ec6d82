"""benchmarks/transfer.py at its tiny size: every claim runs end to end on real MNIST and
the README table is written from the results (skipped without MNIST)."""

import json

import pytest

from conftest import MNIST_DIR, load_benchmark


@pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason="MNIST is not available"
)
def test_tiny_transfer_benchmark_measures_every_claim_and_tabulates_them(tmp_path, capsys):
    module = load_benchmark("transfer.py")
    out = tmp_path / "transfer.json"
    # one BLAS thread, as the benchmark runs: small matrices on a busy machine crawl with more
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        assert module.main(["--size", "tiny", "--out", str(out), "--data", str(MNIST_DIR)]) == 0
    results = json.loads(out.read_text())
    rows = results["fewer_data"]["labels_per_class"]
    assert set(rows) == {"5", "20"}
    for row in rows.values():
        for method in ("scratch", "frozen", "fine_tuned"):
            assert 0 <= row[method]["accuracy"]["mean"] <= 1
    assert len(results["faster_training"]["reused"]["curves"][0]["accuracy"]) == 2
    assert set(results["pretraining"]) >= {"random", "autoencoder", "denoising"}
    assert results["distillation"]["soft_targets"]["images_per_s"]["mean"] > 0
    table = module.table(results)
    scratch = rows["5"]["scratch"]["accuracy"]["mean"]
    assert f"| 5 | 2 | {100 * scratch:.1f} ± 0.0 |" in table
    assert "| teacher (2 CNNs, trained once) |" in capsys.readouterr().out
