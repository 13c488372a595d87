#!/usr/bin/env bash
# The one-call GPU check, offline (docs/performance.md, "Checking a GPU machine"). On a GPU machine with
# PyTorch but no network, after benchmarks/gpu/bundle.sh built .gpu-bundle/ where there is one:
#   bash benchmarks/gpu/run.sh                      # 6-7 minutes on one H100 (estimate)
# Parts, each under its own time limit and all by one deadline (9.5 minutes after the start; --quick
# 18), so that the summary always gets written, within one 10-minute call, with what finished:
#   setup        install the bundle's wheels (Snakemake, jsonschema, ...) and vrdl (no deps)
#                into a folder, without network, over the preinstalled PyTorch
#   prepare      Fashion-MNIST -> fashion_mnist.pt
#   correctness  CUDA against CPU from the same seed, every optimizer of the registry, LeNet and
#                ResNet-18 + BN
#   data_path, epoch_time, vr_overhead, grid_throughput   benchmarks/*.py on the device
#   step_modes   a single run's step eager vs compiled vs CUDA graphs (SGD, SVRG, STORM)
#   model_speed  full-width ResNet-18/101 and LeNet epoch times (fp32/bf16, channels-last, compile)
#   slice        snakemake --cores all --resources gpu=1 on benchmarks/gpu/gpu-slice.yaml (every
#                optimizer; the stackable ones as stacked grids)
#   summary      summary.md, summary.json, per-epoch-costs.json, logs.tar.gz in $OUT if set,
#                else results/gpu-check/
# Options:
#   --device cuda|cpu   (default cuda) cpu runs every part on the CPU
#   --quick             tiny sizes (quick-slice.yaml): the CPU smoke test CI runs, a few minutes
#   --python PY         the interpreter (default python3; without a bundle .venv/bin/python if any)
#   --bundle DIR|none   the bundle to install (default .gpu-bundle when present); none: use the
#                       interpreter's environment as it is, with this checkout's src/ on PYTHONPATH
#   --out DIR           where the summary goes (default $OUT, else results/gpu-check)
#   --keep-work         keep the work folder (data, logs, the slice's results; default: removed)
# Exit status: 0 if every part finished and passed, else 1 (the summary says which did not).
set -uo pipefail
START=$(date +%s)
cd "$(dirname "$0")/../.."
REPO=$PWD
DEVICE=cuda QUICK=0 PY="" BUNDLE="" OUTDIR=${OUT:-results/gpu-check} KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --device) DEVICE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --python) PY=$2; shift 2 ;;
    --bundle) BUNDLE=$2; shift 2 ;;
    --out) OUTDIR=$2; shift 2 ;;
    --keep-work) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $DEVICE in cuda|cpu) ;; *) echo "run.sh: --device must be cuda or cpu, got $DEVICE" >&2; exit 2 ;; esac
DEADLINE=$((START + (QUICK ? 1080 : 570)))  # leaves the summary 30 s of a 10-minute call
[ -z "$BUNDLE" ] && [ -d .gpu-bundle ] && BUNDLE=.gpu-bundle
[ "$BUNDLE" = none ] && BUNDLE=""
if [ -z "$PY" ]; then
  PY=python3
  [ -z "$BUNDLE" ] && [ -x .venv/bin/python ] && PY=$REPO/.venv/bin/python
fi
if [ -n "$BUNDLE" ] && [ ! -d "$BUNDLE/wheels" ]; then
  echo "run.sh: $BUNDLE/wheels does not exist: build it with bash benchmarks/gpu/bundle.sh" >&2; exit 2
fi
if [ -z "$BUNDLE" ] && [ "$DEVICE" = cuda ] && ! "$PY" -c "import snakemake" 2>/dev/null; then
  echo "run.sh: no bundle and $PY has no Snakemake: run bash benchmarks/gpu/bundle.sh where there is" \
       "network and carry .gpu-bundle (docs/performance.md, Checking a GPU machine)" >&2; exit 2
fi
SOURCE=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -n "$BUNDLE" ] && SOURCE=$(cd "$BUNDLE/fashion-mnist" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vrdl-gpu-check.XXXXXX")
LOGS=$WORK/logs PARTS=$WORK/parts
mkdir -p "$LOGS" "$PARTS" "$WORK/tmp" "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
# TMPDIR: the benchmarks' temporary data folders go into the work folder, removed at the end
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TMPDIR=$WORK/tmp
echo "run.sh: device $DEVICE, quick $QUICK, python $PY, bundle ${BUNDLE:-none}, work $WORK, summary to $OUTDIR"

# part NAME SECONDS CMD...: run CMD under its time limit (cut to what is left before the deadline),
# output to logs/NAME.log, status to parts/
part() {
  local name=$1 budget=$2 start rc
  shift 2
  start=$(date +%s)
  [ "$budget" -gt $((DEADLINE - start - 10)) ] && budget=$((DEADLINE - start - 10))
  if [ "$budget" -lt 5 ]; then
    echo "run.sh: no time left before the deadline: $name not started" >"$LOGS/$name.log"
    rc=124 budget=0
  else
    timeout --kill-after=10 "$budget" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - start))" "$budget" >>"$PARTS/status.tsv"
  echo "run.sh: $name: exit $rc after $(($(date +%s) - start)) s (limit $budget s)$([ $rc = 124 ] && echo ': TIMED OUT')"
  [ $rc = 0 ] || tail -n 15 "$LOGS/$name.log" | sed "s/^/  $name| /"
  return $rc
}

# the bundle's wheels and vrdl (from a copy of the checkout: no build files in it) into $WORK/site
install_bundle() {
  local site=$WORK/site
  "$PY" -c "import sys; v = '%d.%d' % sys.version_info[:2]; want = open('$BUNDLE/python-version').read().strip();
sys.exit(0 if v == want else f'the bundle is for Python {want}, $PY is {v}: BUNDLE_PYTHON_VERSION={v} bundle.sh')" &&
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$BUNDLE"/wheels/*.whl &&
  mkdir -p "$WORK/vrdl-src" && cp -r pyproject.toml README.md src "$WORK/vrdl-src/" &&
  { "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$site" "$WORK/vrdl-src" ||
    { echo "run.sh: pip could not build vrdl here (setuptools>=68 missing?); copying src/vrdl instead" \
           "(pure Python; the rules then call python -m vrdl.cli)"; cp -r src/vrdl "$site/"; }; }
}

# ---- setup: the environment every later part runs in
if [ -n "$BUNDLE" ]; then
  export PYTHONPATH=$WORK/site PATH=$WORK/site/bin:$PATH
  export WORK PY BUNDLE
  part setup 60 bash -c "$(declare -f install_bundle); install_bundle" &&
    part check_env 30 "$PY" benchmarks/gpu/check_env.py "$DEVICE" "$WORK/site"
else
  export PYTHONPATH=$REPO/src${PYTHONPATH:+:$PYTHONPATH}
  part check_env 30 "$PY" benchmarks/gpu/check_env.py "$DEVICE"
fi
ENV_OK=$?
cat "$LOGS/check_env.log" 2>/dev/null

if [ "$QUICK" = 1 ]; then
  T_CORRECT=240 T_BENCH=120 T_SPEED=120 T_SLICE=420 SLICE=benchmarks/gpu/quick-slice.yaml THREADS=(--threads 1)
  DATA_PATH=(--batches 4) EPOCH_TIME=(--steps 4 --repeats 1 --no-compile) VR=(--train-subset 256 --repeats 1)
  T_MODES=150 MODES=(--steps 4 --repeats 1 --optimizers sgd)
  GRID=(--train-subset 128 --lrs 0.1 --folds 2) SPEED=(--quick) CORRECT=(--quick)
else  # typically 6-7 minutes in all (estimated); the deadline stops whatever runs past 9.5
  T_CORRECT=100 T_BENCH=25 T_SPEED=70 T_SLICE=150 SLICE=benchmarks/gpu/gpu-slice.yaml THREADS=()
  DATA_PATH=() EPOCH_TIME=(--steps 300 --repeats 1 --no-compile) VR=(--train-subset 10000 --repeats 2)
  T_MODES=100 MODES=(--steps 300 --repeats 2)
  GRID=(--train-subset 10000 --lrs 0.1,0.01 --folds 4) SPEED=() CORRECT=()
fi

# ---- the parts (each only if the environment works)
if [ $ENV_OK = 0 ]; then
  part prepare 30 "$PY" -m vrdl.cli prepare --dataset fashion_mnist --data-dir "$WORK/data" --source-dir "$SOURCE"
  part correctness "$T_CORRECT" "$PY" benchmarks/gpu/correctness.py --device "$DEVICE" --data-dir "$WORK/data" \
    --out "$PARTS/correctness.json" "${CORRECT[@]}"
  bench() { part "$1" "$T_BENCH" "$PY" "benchmarks/$1.py" --device "$DEVICE" --source-dir "$SOURCE" "${THREADS[@]}" "${@:2}"; }
  bench data_path "${DATA_PATH[@]}"
  bench epoch_time "${EPOCH_TIME[@]}"
  bench vr_overhead "${VR[@]}"
  bench grid_throughput "${GRID[@]}"
  if [ "$QUICK" = 0 ]; then  # the compiled stacked step (CUDA graphs), STORM: the trickiest update compiled
    part grid_compile 75 "$PY" benchmarks/grid_throughput.py --device "$DEVICE" --source-dir "$SOURCE" \
      --train-subset 10000 --lrs 0.1,0.5 --folds 4 --optimizer storm --compile
  fi
  # a single run's step eager, compiled and as CUDA graphs (vrdl train --compile on CUDA)
  part step_modes "$T_MODES" "$PY" benchmarks/gpu/step_modes.py --device "$DEVICE" --data-dir "$WORK/data" \
    "${THREADS[@]}" "${MODES[@]}"
  part model_speed "$T_SPEED" "$PY" benchmarks/gpu/model_speed.py --device "$DEVICE" --data-dir "$WORK/data" \
    --out "$PARTS/model_speed.json" "${SPEED[@]}"
  # the slice: its own working directory; data from SOURCE, the device as asked
  mkdir -p "$WORK/slice"
  "$PY" - "$SLICE" "$WORK/slice/config.yaml" "$SOURCE" "$DEVICE" <<'PY'
import sys, yaml
src, dst, source, device = sys.argv[1:]
config = yaml.safe_load(open(src))
config["data"] = {"dir": "data", "sources": {"fashion_mnist": source}}
config["compute"]["device"] = device
yaml.safe_dump(config, open(dst, "w"), sort_keys=False)
PY
  part slice "$T_SLICE" "$PY" -m snakemake -s "$REPO/workflow/Snakefile" --directory "$WORK/slice" \
    --configfile "$WORK/slice/config.yaml" --workflow-profile none --cores all --resources gpu=1 \
    --scheduler greedy --printshellcmds
else
  echo "run.sh: the environment does not work (see above); only the summary follows"
fi

"$PY" benchmarks/gpu/summary.py --work "$WORK" --out "$OUTDIR" --device "$DEVICE" \
  --config config/config.yaml $([ "$QUICK" = 1 ] && echo --quick)
status=$?
if [ "$KEEP" = 1 ]; then echo "run.sh: work folder kept: $WORK"; else rm -rf "$WORK"; fi
exit $status
