#!/usr/bin/env bash
# One-shot GPU benchmark: installs what it needs, then runs data_path, epoch_time, vr_overhead
# and grid_throughput on the CUDA device and prints their `NAME: VALUE` lines (under 8 minutes
# on one modern GPU). Needs the raw Fashion-MNIST files: FASHION_MNIST_DIR (default: Debian's).
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c "import torch, torchvision" 2>/dev/null || .venv/bin/pip install -q torch torchvision
.venv/bin/pip install -q -e . >/dev/null
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('device:', torch.cuda.get_device_name())"
run() { timeout 300 .venv/bin/python "benchmarks/$1.py" --device cuda --source-dir "$SOURCE" "${@:2}"; }
run data_path
run epoch_time
run vr_overhead --train-subset 60000 --repeats 2
run grid_throughput --train-subset 45000 --lrs 0.1,0.01,0.001,0.0001,0.00001
