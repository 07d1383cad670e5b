#!/usr/bin/env bash
# Every GPU check of the speed issue in one call, inside a time budget (default 540 s), ending with one table
# (python -m yolo_exp.bench.report): per lever the model step (images/s, MFU, GPU busy under torch.profiler, peak
# memory), the training loop (images/s, share of time waiting for data, loop/step) and YOLOv5's figures beside.
# Levers run one by one from YOLOv5's setting (fp16 autocast, NCHW) up; the top kernels of the first two are
# written to OUT/prof_*/step_profile.txt. PART=speed (default), quality (the BCCD bar, ~5 min: a call of its own)
# or all. COMPILE=1 adds torch.compile (with and without CUDA graphs; ~2 min each to compile).
# On the device:  bash bench/gpu.sh $OUT   with carry [".whl", ".gpu_data"] from bench/prepare_gpu.sh.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/yolo_exp_gpu}}
PART=${PART:-speed}
BUDGET=${BUDGET:-540}
START=$(date +%s)
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export YOLO_EXP_CACHE_DIR="$OUT/cache" PYTHONUNBUFFERED=1
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
cap() { local l; l=$(left); (( l < $1 )) && echo "$l" || echo "$1"; }  # a run's timeout: its own, or what is left
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', \
torch.backends.cudnn.version(), 'torchvision', torchvision.__version__)"; } | tee "$OUT/env.txt"

# SMOKE=1: the same plumbing on a CPU with a tiny model and data (the script's own check; figures meaningless)
if [[ -n ${SMOKE:-} ]]; then S="model=yolov5n imgsz=64 batch_size=4 device=cpu"; ITERS=2
  LOOP="workers=2 data.shapes.n_train=32 data.shapes.n_val=8 data.shapes.img_size=96"
else S="model=yolov5s imgsz=640 batch_size=64 device=cuda"; ITERS=20
  LOOP="workers=16 cache=ram data.shapes.n_train=2048 data.shapes.n_val=64 data.shapes.img_size=640"; fi
step() {  # step TAG [overrides...] : the model step (20 timed iterations after 5 warm-up ones)
  local tag=$1; shift
  (( $(left) > 20 )) || { echo "skip step $tag: out of time"; return; }
  timeout "$(cap "${STEP_S:-90}")" python3 -m yolo_exp.bench step $S "$@" --iters $ITERS --json "$OUT/step_$tag.json" \
    ${PROFILE:+--profile "$OUT/prof_$tag"} > "$OUT/step_$tag.log" 2>&1 || echo "step $tag failed: $OUT/step_$tag.log"
}
loop() {  # loop TAG [overrides...] : the real training loop on generated 640 px data, 16 workers, cache ram
  local tag=$1; shift
  (( $(left) > 40 )) || { echo "skip loop $tag: out of time"; return; }
  timeout "$(cap 150)" python3 -m yolo_exp.bench train $S $LOOP "$@" --epochs 3 --json "$OUT/loop_$tag.json" \
    > "$OUT/loop_$tag.log" 2>&1 || echo "loop $tag failed: $OUT/loop_$tag.log"
}

if [[ $PART == speed || $PART == all ]]; then
  FAST="deterministic=false device.cudnn_benchmark=true optimizer.fused=true"
  PROFILE=1 step 1_fp16_nchw device.channels_last=false      # YOLOv5's setting: profile first
  PROFILE=1 step 2_fp16_cl                                   # our default: channels_last
  step 3_bf16_cl device.amp_dtype=bf16
  step 4_fp16_cl_cudnn_benchmark deterministic=false device.cudnn_benchmark=true
  step 5_fp16_cl_fused_sgd optimizer.fused=true              # no host sync in the step (skip on the device)
  step 6_fp16_cl_fast $FAST
  step 7_bf16_cl_fast $FAST device.amp_dtype=bf16
  loop 2_fp16_cl
  loop 6_fp16_cl_fast $FAST
  loop 6_fp16_cl_fast_gpu_augment $FAST data.gpu_augment=true  # issue 28.2: mosaic/warp/HSV/flips on the GPU
  (( $(left) > 40 )) && for A in false true; do  # the loader alone, augmenting in the workers or on the GPU
    timeout "$(cap 90)" python3 -m yolo_exp.bench data $S $LOOP data.gpu_augment=$A --workers "${WORKERS:-16}" \
      --batches 20 --json "$OUT/data_gpu_augment_$A.json" > "$OUT/data_gpu_augment_$A.log" 2>&1 \
      || echo "data gpu_augment=$A failed: $OUT/data_gpu_augment_$A.log"; done
  if [[ -n ${COMPILE:-} ]]; then
    STEP_S=200 step 8_fast_compile $FAST device.compile=true
    STEP_S=200 step 9_fast_compile_cudagraphs $FAST device.compile=true device.compile_mode=reduce-overhead
  fi
fi

# AutoBatch's real probe (issue 32): yolov5s at 640 profiled on the GPU, the size it picks logged, one short epoch
if [[ $PART == speed || $PART == all ]] && [[ -z ${SMOKE:-} ]] && (( $(left) > 60 )); then
  timeout "$(cap 90)" python3 train.py model=yolov5s imgsz=640 batch_size=auto epochs=1 device=cuda noplots=true \
    data.shapes.n_train=256 data.shapes.n_val=16 data.shapes.img_size=640 hydra.run.dir="$OUT/autobatch" \
    > "$OUT/autobatch.log" 2>&1 || echo "autobatch failed: $OUT/autobatch.log"
  grep -h "AutoBatch:" "$OUT/autobatch/train.log" 2>/dev/null | tail -1
fi

# Quality bar (Engine issue): yolov5s from scratch on BCCD, 640, batch 32, 60 epochs, scratch-low, seed 0, with the
# fast path on. YOLOv5: P 0.837, R 0.861, mAP@0.5 0.885, mAP@0.5:0.95 0.547.
BCCD=${BCCD:-.gpu_data/bccd}
if [[ $PART == quality || $PART == all ]] && [[ -d $BCCD ]]; then
  timeout "$(cap 480)" python3 train.py data=bccd data.path="$BCCD" model=yolov5s hyp=scratch-low imgsz=640 \
    batch_size=32 epochs=60 seed=0 workers=16 cache=ram device=cuda noplots=true optimizer.fused=true \
    hydra.run.dir="$OUT/bccd_yolov5s" > "$OUT/bccd.log" 2>&1 || echo "quality run failed: $OUT/bccd.log"
fi
python3 -m yolo_exp.bench.report "$OUT" | tee "$OUT/table.txt"
echo "wall $(( $(date +%s) - START )) s"
