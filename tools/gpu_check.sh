#!/usr/bin/env bash
# One-command GPU check (docs/benchmarks.md), at most 8 minutes:
#   1. build the deformable-attention CUDA extension (JIT, cached by torch/CUDA/Python version),
#   2. run the GPU tests (pytest -m gpu): the kernel against the PyTorch path, and
#      torch.library.opcheck of torch.ops.ov_avss.ms_deform_attn on CUDA (fp32, fp16, bf16),
#   3. tools/benchmark.py --device cuda: the op (ours / PyTorch / deformops, fp32 fp16 bf16, R50
#      360x640 and Swin-B 480p shapes), the training step, inference and peak memory of each
#      model family's R50 config (OV-AVSS, AVISM) with AMP off / bf16 and MODEL.COMPILE off / on,
#      and the profiler's top-10 ops of the OV-AVSS R50 training step with AMP on.
# Writes OUT_DIR/benchmark.json, OUT_DIR/benchmark.md and a log per step; prints a summary.
# Exit status: 0 all steps passed, 1 a step failed (see its log), 2 bad usage or no GPU.
#
#   tools/gpu_check.sh OUT_DIR        (PYTHON=... picks the interpreter; default: python)
#   GPU_CHECK_PRINT=1 tools/gpu_check.sh OUT_DIR   prints the steps' commands, runs nothing
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

# The steps' commands (one array each), so GPU_CHECK_PRINT can show them and the tests check them.
BUILD_CMD=("$PYTHON" -c "from ov_avss.ops.extension import load_extension_jit; m = load_extension_jit(); print('built', m.__file__)")
PYTEST_CMD=("$PYTHON" -m pytest -m gpu -q -rs tests)
benchmark_cmd() {  # time budget in seconds
    BENCHMARK_CMD=("$PYTHON" tools/benchmark.py --device cuda --sections op,model --profile
        --config configs/avsbench/OV_AVSS_R50.yaml --config configs/avis/AVISM_R50_COCO.yaml
        --amp off,bfloat16 --compile off,on --warmup 0 --repeats 5
        --time-budget-s "$1" --report-dir "$OUT_DIR")
}
if [ "${GPU_CHECK_PRINT:-0}" = "1" ]; then
    benchmark_cmd 450
    printf '%s\n' "${BUILD_CMD[*]}" "${PYTEST_CMD[*]}" "${BENCHMARK_CMD[*]}"
    exit 0
fi

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

budget=$(left); run_step build_extension $((budget < 240 ? budget : 240)) "${BUILD_CMD[@]}"
budget=$(left); run_step pytest_gpu $((budget < 120 ? budget : 120)) "${PYTEST_CMD[@]}"
# The benchmark stops starting new measurements 30 s before its own limit (a compile-on run
# can take longer than that: the budget check runs between measurements).
budget=$(left); benchmark_cmd $((budget > 40 ? budget - 30 : 10)); run_step benchmark "$budget" "${BENCHMARK_CMD[@]}"

echo "GPU check ($(($SECONDS - START)) s):"
printf '  %s\n' "${SUMMARY[@]}"
[ -f "$OUT_DIR/pytest_gpu.log" ] && echo "  pytest: $(tail -n 1 "$OUT_DIR/pytest_gpu.log")"
if [ -f "$OUT_DIR/benchmark.md" ]; then
    echo
    cat "$OUT_DIR/benchmark.md"
fi
exit $STATUS
