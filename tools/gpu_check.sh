#!/usr/bin/env bash
# One-command GPU check (docs/benchmarks.md), at most 8 minutes:
#   1. build the deformable-attention CUDA extension (JIT, cached by torch/CUDA/Python version),
#   2. run the GPU tests (pytest -m gpu),
#   3. tools/benchmark.py --device cuda: the op (ours / PyTorch / deformops, fp32 fp16 bf16, R50
#      360x640 and Swin-B 480p shapes), the R50 and Swin-B models (AMP off / fp16 / bf16) and
#      the profiler's top-10 ops of the R50 training step with AMP on.
# Writes OUT_DIR/benchmark.json, OUT_DIR/benchmark.md and a log per step; prints a summary.
# Exit status: 0 all steps passed, 1 a step failed (see its log), 2 bad usage or no GPU.
#
#   tools/gpu_check.sh OUT_DIR        (PYTHON=... picks the interpreter; default: python)
set -u -o pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "error: usage: tools/gpu_check.sh OUT_DIR" >&2
    exit 2
fi
OUT_DIR=$1
PYTHON=${PYTHON:-python}
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT" || exit 2
# Seconds for the whole check; each step gets what the earlier ones left.
TOTAL_BUDGET_S=${GPU_CHECK_BUDGET_S:-480}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "error: $PYTHON cannot import torch (set PYTHON to the project's interpreter); nothing was run" >&2
    exit 2
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "error: no CUDA GPU is visible to $PYTHON (torch.cuda.is_available() is False); nothing was run" >&2
    exit 2
fi
mkdir -p "$OUT_DIR" || exit 2
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export OV_AVSS_MSDA_JIT=1
START=$SECONDS
left() { echo $((TOTAL_BUDGET_S - (SECONDS - START))); }
STATUS=0
SUMMARY=()

run_step() {  # name, seconds, command...
    local name=$1 seconds=$2
    shift 2
    if [ "$seconds" -le 10 ]; then
        SUMMARY+=("$name: skipped (time budget spent)")
        STATUS=1
        return
    fi
    local begin=$SECONDS
    timeout --kill-after=10 "$seconds" "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    local took=$((SECONDS - begin))
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("$name: ok (${took} s)")
    else
        [ "$rc" -eq 124 ] && SUMMARY+=("$name: TIMED OUT after ${seconds} s (log: $OUT_DIR/$name.log)") \
            || SUMMARY+=("$name: FAILED, exit $rc (log: $OUT_DIR/$name.log)")
        STATUS=1
    fi
}

budget=$(left); run_step build_extension $((budget < 240 ? budget : 240)) \
    "$PYTHON" -c "from ov_avss.ops.extension import load_extension_jit; m = load_extension_jit(); print('built', m.__file__)"
budget=$(left); run_step pytest_gpu $((budget < 120 ? budget : 120)) \
    "$PYTHON" -m pytest -m gpu -q -rs tests
# The benchmark stops starting new measurements 30 s before its own limit.
budget=$(left); run_step benchmark "$budget" \
    "$PYTHON" tools/benchmark.py --device cuda --sections op,model --profile --warmup 3 --repeats 10 \
    --time-budget-s $((budget > 40 ? budget - 30 : 10)) --report-dir "$OUT_DIR"

echo "GPU check ($(($SECONDS - START)) s):"
printf '  %s\n' "${SUMMARY[@]}"
[ -f "$OUT_DIR/pytest_gpu.log" ] && echo "  pytest: $(tail -n 1 "$OUT_DIR/pytest_gpu.log")"
if [ -f "$OUT_DIR/benchmark.md" ]; then
    echo
    cat "$OUT_DIR/benchmark.md"
fi
exit $STATUS
