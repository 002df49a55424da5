#!/usr/bin/env bash
# Build the wheel, install it (with its dependencies, from pip's cache once `make install` has run)
# into a fresh venv, and run it from a directory outside the checkout: a tiny training run, the
# complexity CLI and the report. Proves that the configs ship inside the package.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$repo/.venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work/dist"/senet_ablate-*.whl

cd "$work"
export SENET_ABLATE_CACHE_DIR="$work/cache"
"$work/venv/bin/senet-ablate" model=resnet20 data=synthetic data.train_size=64 data.val_size=32 \
    trainer=smoke trainer.epochs=1 trainer.batch_size=32 trainer.device=cpu trainer.progress=false \
    results_dir="$work/results"
"$work/venv/bin/python" -m senet_ablate.complexity model=resnet50
"$work/venv/bin/python" -m senet_ablate.report results_dir="$work/results" exps=reduction_sweep
grep -q '"status": "completed"' "$work"/results/runs/*.json
echo "wheel check: installed from $(basename "$work"/dist/*.whl), trained, counted and reported outside the checkout"
