#!/usr/bin/env bash
# The runs that need a GPU, each under its own time limit, results packed into $OUT/results.tar.gz after every stage
# (so a run cut short keeps what finished). The stages, by number:
#   1. the kernels' correctness on the GPU (kernels/bench.py --check-only); if a check fails, the rest runs with
#      --kernels torch (the readable definitions in ddpm.py)
#   2. the noise-by-start sweep at n = 500 (experiments/sweep_noise_vs_start.py), class kept by the three judges
#   3. blind denoising at n = 500, 8 chains, 100 calibration images (experiments/blind_denoising.py), class kept by
#      three judges ($JUDGES: the robust CNN, the ResNet, the shipped classifier)
#   4. the same chains with sigma_t^2 = beta_t instead of the posterior variance (the ablation in docs/beyond.md)
#   5. the kernel benchmarks (kernels/bench.py), with the fused GroupNorm + SiLU kernel in NCHW and NHWC
#   6. the fast path, lever by lever (python fast.py): eager fp32 as measured and replayed in a CUDA graph, each
#      lever, --fast as the scripts build it (torch.compile + replayed CUDA graphs); its quality guard (1000 samples
#      at w = 2, fp32 and --fast); the training step fp32 against --fast at batch 128; a torch.profiler table of
#      eager fp32, of the fast path and of a training step (profile.md)
#   7. the speedrun (experiments/speedrun.py): the class-conditional MNIST model from scratch to the 95% bar; it needs
#      the MNIST training set under $DATA (default .devdata, a git-ignored copy of ../shared/data named in `carry`);
#      today's default settings first, then each setting in $SPEEDRUN_MORE (';'-separated speedrun.py flags)
#   8. zero-shot imputation at n = 500 with 4 chains per image (experiments/zero_shot_imputation.py), class kept by
#      the three judges
#   9. the sampler as the scripts run it: `sample.py --n 256` at w = 2 (B = 256, T = 200) with and without --fast,
#      each timed from process start to exit (imports, CUDA start, compile and capture included)
#  10. the stock-PyTorch anchor (fast.py --anchor --compile: bf16 weights, channels-last, cudnn.benchmark,
#      torch.compile max-autotune, the chain in one CUDA graph), beside eager fp32 and --fast; last, under a cap,
#      since max-autotune spends minutes tuning
#
#   OUT=results/gpu bash experiments/run_on_gpu.sh                      # on a CUDA machine: the default stages
#   OUT=/tmp/dry DEVICE=cpu N=4 CHAINS=2 CAL=4 BENCH=--smoke SWEEP='--noises 0.1,0.5 --starts 0,0.1' \
#       FAST='--batch 4 --steps 2 --repeats 1 --quality 4 --train-batch 4' SPEEDRUN='--steps 2 --n 10 --width 8' \
#       SPEEDRUN_MORE='--steps 1 --n 10 --width 8' AS_RUN='--n 4 --batch-size 4' ANCHOR='--batch 4 --steps 2 \
#       --repeats 1' ZEROSHOT='--masks rows --resample 2' DATA=../shared/data bash experiments/run_on_gpu.sh
#                                                    # a dry run anywhere, on the CPU
#
# A stage that fails or times out is reported and the next ones still run; the script then exits 1.
#
# STAGES picks the stages and their order. The default, "1 6 9 5 7 10", is the fast-path round ranked by what
# matters: the sampler (6, 9), the GroupNorm kernel (5), the speedrun (7), the anchor (10); its limits add up to
# more than one 10-minute call, so a lent card with 15 minutes in all runs it in two calls, STAGES="1 6 9 5" then
# STAGES="7 10". STAGES="1 2 3 4 8" is the measuring round of docs/beyond.md.
# scikit-image's wavelet denoiser needs PyWavelets; a machine without it and without network access can be given
# wheels in .whl/ (installed into /tmp/site first).
set -u -o pipefail   # a stage's exit status is its Python's (or timeout's), not tee's
OUT=${OUT:-results/gpu}
DEVICE=${DEVICE:-cuda}
N=${N:-500}
CHAINS=${CHAINS:-8}
CAL=${CAL:-100}
BENCH=${BENCH:-}
SWEEP=${SWEEP:-}
FAST=${FAST:---batch 256 --steps 20 --repeats 5 --compile --quality 1000 --train-batch 128}
SPEEDRUN=${SPEEDRUN:-}
SPEEDRUN_MORE=${SPEEDRUN_MORE---batch-size 256 --steps 600;--steps 950 --lr 2e-3 --lr-schedule cosine --warmup 50;--batch-size 256 --steps 400 --lr 2e-3 --lr-schedule cosine --warmup 50}
AS_RUN=${AS_RUN:---n 256 --batch-size 256}
ANCHOR=${ANCHOR:---batch 256 --steps 20 --repeats 5}
ZEROSHOT=${ZEROSHOT:-}
DATA=${DATA:-.devdata}
STAGES=${STAGES:-1 6 9 5 7 10}
PY=${PYTHON:-python3}
# the judges of class kept (checkpoints/MANIFEST.md): the robust CNN, the ResNet, and the shipped classifier
JUDGES="checkpoints/classifier_mnist_robust.pt checkpoints/classifier_mnist_resnet.pt checkpoints/classifier_mnist.pt"
RES=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
TIMEFORMAT='wall %R s from process start to exit'  # what bash's `time` prints (stage 9)

stage() { echo "== $(date +%T) $*"; }
pack() { tar -C "$RES" -czf "$OUT/results.tar.gz" . ; }
FAILED=""
failed() { FAILED="$FAILED $1"; echo "== stage $1 failed (exit status $2); the stages after it still run"; }

if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>/dev/null
$PY -c "import sys, torch, triton, skimage, pywt; print('python', sys.version.split()[0], 'torch', torch.__version__,
'triton', triton.__version__, 'skimage', skimage.__version__, 'pywt', pywt.__version__)"

KERNELS=${KERNELS:-auto}  # stage 1 sets it to torch where a kernel check fails

stage_1() {
    stage "1. kernel checks"
    if ! timeout 50 $PY kernels/bench.py --check-only $BENCH --out "$RES/checks.md" 2>&1 | tee "$RES/checks.log"; then
        echo "kernel checks failed or timed out: the runs below use ddpm.py's definitions (--kernels torch)"
    fi
    grep -q "all checks pass" "$RES/checks.log" || KERNELS=torch
}

stage_2() {
    stage "2. sweep"
    timeout 240 $PY experiments/sweep_noise_vs_start.py --n "$N" $SWEEP --device "$DEVICE" --kernels "$KERNELS" \
        --classifiers $JUDGES --no-progress --out "$RES/sweep" \
        2>&1 | tee "$RES/sweep.log" || failed 2 $?
}

stage_3() {
    stage "3. blind denoising"
    timeout 120 $PY experiments/blind_denoising.py --n "$N" --chains "$CHAINS" --calibration "$CAL" --device "$DEVICE" \
        --kernels "$KERNELS" --classifiers $JUDGES --no-progress --out "$RES/blind" \
        2>&1 | tee "$RES/blind.log" || failed 3 $?
}

stage_4() {
    stage "4. blind denoising, sigma_t^2 = beta_t"
    timeout 40 $PY experiments/blind_denoising.py --n "$N" --chains "$CHAINS" --calibration "$CAL" --device "$DEVICE" \
        --kernels "$KERNELS" --variance beta --no-conditional --no-progress --out "$RES/blind_beta" \
        2>&1 | tee "$RES/blind_beta.log" || failed 4 $?
}

stage_5() {
    stage "5. kernel benchmarks"
    cp docs/benchmarks.md "$RES/benchmarks.md"  # bench.py keeps its "On the CPU" sections when it rewrites the page
    timeout 110 $PY kernels/bench.py $BENCH --out "$RES/benchmarks.md" 2>&1 | tee "$RES/bench.log" || failed 5 $?
}

stage_6() {
    stage "6. the fast path"
    timeout 240 $PY fast.py --device "$DEVICE" --kernels "$KERNELS" $FAST --profile "$RES/profile.md" \
        --out "$RES/fast.json" \
        2>&1 | tee "$RES/fast.log" || failed 6 $?
}

stage_7() {
    stage "7. the speedrun"
    # the default settings first, then each of $SPEEDRUN_MORE's settings (separated by ';') in speedrun_2, _3, ...
    IFS=';' read -ra MORE <<< "${SPEEDRUN_MORE:-}"
    local i=1 dir settings
    for settings in "$SPEEDRUN" "${MORE[@]}"; do
        dir=speedrun; [ $i -gt 1 ] && dir=speedrun_$i
        echo "-- speedrun $i: ${settings:-default settings}"
        timeout 120 $PY experiments/speedrun.py --device "$DEVICE" --data-dir "$DATA" $settings --no-progress \
            --out "$RES/$dir" 2>&1 | tee "$RES/$dir.log" || failed 7 $?
        # keep a small fp16 copy of the model (to ship if it passes the bar), not the full training checkpoint
        $PY checkpoint.py export "$RES/$dir/checkpoint.pt" "$RES/$dir/speedrun_fp16.pt" \
            && rm -f "$RES/$dir/checkpoint.pt" "$RES/$dir/samples_w2.npz"
        pack
        i=$((i + 1))
    done
}

stage_8() {
    stage "8. zero-shot imputation"
    timeout 240 $PY experiments/zero_shot_imputation.py --n "$N" --chains 4 --batch "$N" --device "$DEVICE" \
        --kernels "$KERNELS" --classifiers $JUDGES $ZEROSHOT --no-progress --out "$RES/zero_shot" \
        2>&1 | tee "$RES/zero_shot.log" || failed 8 $?
}

stage_9() {
    stage "9. the sampler as the scripts run it"
    # eager first, then --fast, each a fresh process timed from start to exit: what a user waits for
    local flags name
    for flags in "" "--fast"; do
        name=sample_as_run${flags:+_fast}
        { time timeout 150 $PY sample.py --checkpoint checkpoints/mnist_class.pt --guidance 2 $AS_RUN \
            --device "$DEVICE" --kernels "$KERNELS" $flags --seed 0 --no-progress --out "$RES/$name/samples" \
            > "$RES/$name.log" 2>&1 ; } 2>> "$RES/$name.time" || failed 9 $?
        cat "$RES/$name.log" "$RES/$name.time"
    done
}

stage_10() {
    stage "10. the stock-PyTorch anchor"
    timeout 240 $PY fast.py --device "$DEVICE" --kernels "$KERNELS" $ANCHOR --anchor --compile \
        --out "$RES/anchor.json" 2>&1 | tee "$RES/anchor.log" || failed 10 $?
}

for s in $STAGES; do
    if ! declare -F "stage_$s" >/dev/null; then
        echo "== no stage $s (the stages are 1 to 10)"
        FAILED="$FAILED $s"
        continue
    fi
    "stage_$s"
    pack
done
stage "done"
if [ -n "$FAILED" ]; then
    echo "stages that failed:$FAILED"
    exit 1
fi
