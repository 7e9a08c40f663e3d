#!/usr/bin/env bash
# One GPU session's worth of runs, in order of importance, each under its own time limit, results packed into
# $OUT/results.tar.gz after every stage (so a run cut short keeps what finished):
#   1. the kernels' correctness on the GPU (kernels/bench.py --check-only); if a check fails, the rest runs with
#      --kernels torch (the readable definitions in ddpm.py)
#   2. the noise-by-start sweep at n = 500 (experiments/sweep_noise_vs_start.py)
#   3. blind denoising at n = 500, 8 chains, 100 calibration images (experiments/blind_denoising.py)
#   4. the same chains with sigma_t^2 = beta_t instead of the posterior variance (the ablation in docs/beyond.md)
#   5. the kernel benchmarks (kernels/bench.py)
#
#   OUT=results/gpu bash experiments/run_on_gpu.sh                      # on a CUDA machine
#   OUT=/tmp/dry DEVICE=cpu N=4 CHAINS=2 CAL=4 BENCH=--smoke SWEEP='--noises 0.1,0.5 --starts 0,0.1' \
#       bash experiments/run_on_gpu.sh               # a dry run anywhere: 1.5 min on the 2-core development CPU
#
# scikit-image's wavelet denoiser needs PyWavelets; a machine without it and without network access can be given
# wheels in .whl/ (installed into /tmp/site first).
set -u
OUT=${OUT:-results/gpu}
DEVICE=${DEVICE:-cuda}
N=${N:-500}
CHAINS=${CHAINS:-8}
CAL=${CAL:-100}
BENCH=${BENCH:-}
SWEEP=${SWEEP:-}
PY=${PYTHON:-python3}
RES=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

stage() { echo "== $(date +%T) $*"; }
pack() { tar -C "$RES" -czf "$OUT/results.tar.gz" . ; }

if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>/dev/null
$PY -c "import sys, torch, triton, skimage, pywt; print('python', sys.version.split()[0], 'torch', torch.__version__,
'triton', triton.__version__, 'skimage', skimage.__version__, 'pywt', pywt.__version__)"

stage "1. kernel checks"
if ! timeout 50 $PY kernels/bench.py --check-only $BENCH --out "$RES/checks.md" 2>&1 | tee "$RES/checks.log"; then
    echo "kernel checks failed or timed out: the runs below use ddpm.py's definitions (--kernels torch)"
fi
KERNELS=auto
grep -q "all checks pass" "$RES/checks.log" || KERNELS=torch
pack

stage "2. sweep"
timeout 240 $PY experiments/sweep_noise_vs_start.py --n "$N" $SWEEP --device "$DEVICE" --kernels "$KERNELS" \
    --no-progress --out "$RES/sweep" \
    2>&1 | tee "$RES/sweep.log"
pack

stage "3. blind denoising"
timeout 120 $PY experiments/blind_denoising.py --n "$N" --chains "$CHAINS" --calibration "$CAL" --device "$DEVICE" \
    --kernels "$KERNELS" --no-progress --out "$RES/blind" 2>&1 | tee "$RES/blind.log"
pack

stage "4. blind denoising, sigma_t^2 = beta_t"
timeout 40 $PY experiments/blind_denoising.py --n "$N" --chains "$CHAINS" --calibration "$CAL" --device "$DEVICE" \
    --kernels "$KERNELS" --variance beta --no-conditional --no-progress --out "$RES/blind_beta" 2>&1 | tee "$RES/blind_beta.log"
pack

stage "5. kernel benchmarks"
timeout 130 $PY kernels/bench.py $BENCH --out "$RES/benchmarks.md" 2>&1 | tee "$RES/bench.log"
pack
stage "done"
