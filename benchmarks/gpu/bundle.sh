#!/usr/bin/env bash
# Build .gpu-bundle/ (ignored by git): what the offline GPU machine lacks for
# benchmarks/gpu/run.sh. Runs on a machine with network (PyPI).
#   wheels/          Snakemake 9 + jsonschema and their dependencies for CPython 3.12 on
#                    manylinux x86-64, less those the GPU image already has (BOX_HAS below)
#   fashion-mnist/   the four raw Fashion-MNIST .gz files
#   requirements.txt the pinned closure (the wheels plus the BOX_HAS ones, for reference)
#   python-version   the Python the wheels are for
# Prints the bundle's size and fails above 60 MiB (a device call carries 64 MiB in all,
# the working tree included).
#   bash benchmarks/gpu/bundle.sh [BUNDLE_DIR]
# Environment: PYTHON (a Python with pip; default .venv/bin/python, else python3),
# FASHION_MNIST_DIR (default Debian's /usr/share/datasets/fashion-mnist),
# BUNDLE_PYTHON_VERSION (default 3.12, the GPU image's; 3.11 builds a bundle to test here).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=${1:-.gpu-bundle}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
SOURCE=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
PYVER=${BUNDLE_PYTHON_VERSION:-3.12}
LIMIT_MIB=60
REQUIREMENTS=("snakemake>=9,<10" "jsonschema>=4")
# Distributions of the closure the GPU image ships (the device tool's KINDS.md package list,
# read 2026-11-17); run.sh checks on the box that their versions satisfy the bundle's needs.
# Carried anyway, small pure-Python packages with recent lower bounds in the closure (the box's
# version is unknown; pydantic needs typing-extensions>=4.16): attrs, packaging, typing-extensions.
# pulp: Snakemake's optional ILP scheduler (16 MiB with its CBC binaries); without it
# Snakemake schedules greedily, which is all a one-GPU local run needs.
BOX_HAS="certifi charset-normalizer click idna jinja2 markupsafe psutil pyyaml requests tabulate urllib3 wrapt
pulp"
# Dependencies published as source only: built into pure-Python wheels here.
SDIST_ONLY=("connection-pool==0.0.3")
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
TARGET=(--only-binary=:all: --python-version "$PYVER" --implementation cp "${PLATFORMS[@]}")

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$SOURCE/$f.gz" ] || { echo "bundle.sh: $SOURCE/$f.gz is missing (set FASHION_MNIST_DIR)" >&2; exit 1; }
done
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/wheels" "$BUNDLE/fashion-mnist"
echo "$PYVER" >"$BUNDLE/python-version"  # run.sh checks it against its interpreter
cp "$SOURCE"/*-ubyte.gz "$BUNDLE/fashion-mnist/"

pip=("$PYTHON" -m pip)
"${pip[@]}" wheel -q --no-deps -w "$BUNDLE/sdist-wheels" "${SDIST_ONLY[@]}"
# Resolve the closure for the target Python (the source-only ones from the wheels just built).
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"${pip[@]}" install -q --dry-run --ignore-installed --report "$report" --target "$(mktemp -d)" \
  --find-links "$BUNDLE/sdist-wheels" "${TARGET[@]}" "${REQUIREMENTS[@]}" ||
  { echo "bundle.sh: could not resolve ${REQUIREMENTS[*]} for Python $PYVER; a dependency with no wheel" \
         "goes into SDIST_ONLY" >&2; exit 1; }
"$PYTHON" - "$report" "$BUNDLE/requirements.txt" "$BOX_HAS" <<'PY'
import json, re, sys
report, out, box_has = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
pins = sorted((norm(i["metadata"]["name"]), i["metadata"]["version"]) for i in json.load(open(report))["install"])
with open(out, "w") as f:
    f.writelines(f"{n}=={v}{'  # on the GPU image' if n in box_has else ''}\n" for n, v in pins)
PY
mapfile -t wanted < <(grep -v "# on the GPU image" "$BUNDLE/requirements.txt")
mapfile -t sdist_names < <(printf '%s\n' "${SDIST_ONLY[@]}" | sed 's/==.*//')
to_download=()
for pin in "${wanted[@]}"; do
  [[ " ${sdist_names[*]} " == *" ${pin%%==*} "* ]] || to_download+=("$pin")
done
"${pip[@]}" download -q --no-deps "${TARGET[@]}" -d "$BUNDLE/wheels" "${to_download[@]}"
mv "$BUNDLE"/sdist-wheels/*.whl "$BUNDLE/wheels/" && rmdir "$BUNDLE/sdist-wheels"

size_kib=$(du -sk "$BUNDLE" | cut -f1)
echo "bundle.sh: $BUNDLE: $(ls "$BUNDLE/wheels" | wc -l) wheels + Fashion-MNIST, $((size_kib / 1024)) MiB" \
     "(limit $LIMIT_MIB MiB)"
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "bundle.sh: $BUNDLE is over $LIMIT_MIB MiB: it would not travel with the working tree" >&2
  exit 1
fi
