#!/usr/bin/env bash
# Create .venv with PyTorch, the vrdl package, Snakemake and the test tools. Idempotent.
#   TORCH_SPEC   the PyTorch packages to install (default: the versions this project is tested with)
#   EXTRAS       pip extras of vrdl (default: workflow,test; add slurm for the SLURM executor plugin)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=${EXTRAS:-workflow,test}

# Real Fashion-MNIST for the demo and the tests (Debian's dataset-fashion-mnist), when we can
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } ||
    echo "setup.sh: could not install dataset-fashion-mnist; the demo will try to download Fashion-MNIST" >&2
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC2086  # TORCH_SPEC is a list of requirements
.venv/bin/pip install -q $TORCH_SPEC
.venv/bin/pip install -q -e ".[$EXTRAS]"
echo "setup.sh: ready: $(.venv/bin/python -c 'import torch, vrdl; print("vrdl", vrdl.__version__, "torch", torch.__version__)')"
