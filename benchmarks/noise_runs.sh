#!/usr/bin/env bash
# The suite's run-to-run noise band, and the two checks the band must pass (issue 18).
#
#   benchmarks/noise_runs.sh                      # 5 quick + 3 full runs, the band, the checks
#   QUICK_RUNS=5 FULL_RUNS=0 benchmarks/noise_runs.sh          # quick band only (about 5 minutes)
#
# Run it on a quiet machine (no tests, no other benchmark), from the repository root, one commit
# checked out and clean. Settings (environment variables):
#   QUICK_RUNS (5)  FULL_RUNS (3)  FULL_SEEDS (3: like the reference run)  BACKENDS (all four)
#   QUICK_ARGS / FULL_ARGS: extra bench options (e.g. "--batch-sizes 1,256,10000" or "--epochs 5")
#   SLOWDOWN ("taskset -c 0": one core instead of two)  PYTHON ("python")  MNIST_MLP ("$PYTHON -m mnist_mlp")
# Rough durations on the 2-core development VM: a quick run about 40 s (README: 39.1 s); a full run
# with 3 seeds about 16 minutes (the reference run: 342 + 83 + 498 + 5 s of cases, plus set-up and
# reports); the defaults therefore take about 55 minutes, QUICK_RUNS=5 FULL_RUNS=0 about 5.
#
# It writes:
#   reports/calibration/noise/{quick,full}/<run>/   the repeated runs (commit them)
#   reports/calibration/noise_band.json             the band (and installs it as compare's default)
#   reports/calibration/noise/checks/               a held-out healthy run and a slowed run, compared
set -euo pipefail
QUICK_RUNS=${QUICK_RUNS:-5}
FULL_RUNS=${FULL_RUNS:-3}
FULL_SEEDS=${FULL_SEEDS:-3}
BACKENDS=${BACKENDS:-tensorflow,jax,torch,numpy}
QUICK_ARGS=${QUICK_ARGS:-}
FULL_ARGS=${FULL_ARGS:-}
SLOWDOWN=${SLOWDOWN:-taskset -c 0}
PYTHON=${PYTHON:-python}
MNIST_MLP=${MNIST_MLP:-$PYTHON -m mnist_mlp}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's code, whatever is installed
ROOT=reports/calibration/noise
BAND=reports/calibration/noise_band.json

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "noise_runs: the working tree has changes; the band must be one commit's" >&2
  exit 2
fi
shopt -s nullglob
runs_in() { local found=("$1"/*/); [ "${#found[@]}" -eq 0 ] || printf '%s\n' "${found[@]}"; }   # run folders, oldest first (UTC names)
latest() { runs_in "$1" | tail -n 1; }
run() { echo "+ $*" >&2; "$@"; }

mkdir -p "$ROOT/quick" "$ROOT/full" "$ROOT/checks"
for i in $(seq 1 "$QUICK_RUNS"); do
  run $MNIST_MLP bench --profile quick --backends "$BACKENDS" --devices cpu --no-gate $QUICK_ARGS --out "$ROOT/quick"
done
for i in $(seq 1 "$FULL_RUNS"); do
  run $MNIST_MLP bench --profile full --seeds "$FULL_SEEDS" --backends "$BACKENDS" --devices cpu --no-gate $FULL_ARGS --out "$ROOT/full"
done
mapfile -t runs < <(runs_in "$ROOT/quick"; runs_in "$ROOT/full")
if [ "${#runs[@]}" -lt 2 ]; then
  echo "noise_runs: fewer than two runs under $ROOT; no band" >&2
  exit 2
fi
run $PYTHON benchmarks/noise_band.py "${runs[@]}" --out "$BAND" --install

# 1. a held-out healthy run (not in the band) against the first noise run: no difference, and
#    --fail-if-slower 10 passes
first=$(runs_in "$ROOT/quick" | sed -n 1p)
run $MNIST_MLP bench --profile quick --backends "$BACKENDS" --devices cpu --no-gate $QUICK_ARGS --out "$ROOT/checks/healthy"
run $MNIST_MLP compare "$first" "$(latest "$ROOT/checks/healthy")" --noise-band "$BAND" \
    --out "$ROOT/checks/healthy-compare" --fail-if-slower 10 || echo "noise_runs: the healthy pair FAILED --fail-if-slower 10" >&2

# 2. the same run slowed ($SLOWDOWN): slower in absolute terms, and per unit of peak the machine
#    (as configured) moved, not the framework
run $SLOWDOWN $MNIST_MLP bench --profile quick --backends "$BACKENDS" --devices cpu --no-gate $QUICK_ARGS --out "$ROOT/checks/slowed"
run $MNIST_MLP compare "$first" "$(latest "$ROOT/checks/slowed")" --noise-band "$BAND" --out "$ROOT/checks/slowed-compare" || true

# 3. if full runs were made: the committed reference against the newest full run
if [ "$FULL_RUNS" -gt 0 ]; then
  run $MNIST_MLP compare reports/reference/20261129T115024Z_vm "$(latest "$ROOT/full")" --noise-band "$BAND" \
      --out "$ROOT/checks/reference-compare" || true
fi
grep -h -A0 "against A" "$ROOT"/checks/*-compare/compare.md || true
