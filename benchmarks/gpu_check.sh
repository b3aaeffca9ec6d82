#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, after
#     pip install -e ".[gpu,dev]" && pip install torch    # a CUDA build of torch
# Runs the GPU tests (tests/test_gpu.py runs only on a real GPU; the device tests run
# too) and the race against PyTorch on the GPU; results go to benchmarks/results/:
# gpu_tests.xml (JUnit: what passed, failed or was skipped) and gpu_race.json.
# Budget: 5 minutes of tests, 4 of racing.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
python -c "import cupy; n = cupy.cuda.runtime.getDeviceCount(); assert n > 0; print(f'{n} GPU(s)')"
python -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA'; print('torch', torch.__version__)"
status=0
timeout 300 python -m pytest tests/test_gpu.py tests/test_device.py tests/test_device_path.py \
    -q -n 0 -rs --junitxml=benchmarks/results/gpu_tests.xml || status=$?
timeout 240 python benchmarks/gpu_race.py --device cuda --json benchmarks/results/gpu_race.json || status=$?
exit $status
