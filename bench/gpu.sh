#!/usr/bin/env bash
# All GPU checks in one call (machine with one GPU, no internet): AMP training smoke run, then the step and
# train benchmarks (fp16 / bf16, NCHW / channels_last); with BCCD=PATH (a copy of ../shared/datasets/bccd carried
# along) also the GPU quality bar of the Engine issue (about 5 more minutes; SKIP_SPEED=1 runs it alone). Prints the
# table last. Usage: [BCCD=DIR] [SKIP_SPEED=1] bash bench/gpu.sh [OUTDIR]
set -uo pipefail
OUT=${1:-${OUT:-/tmp/yolo_exp_gpu}}
mkdir -p "$OUT"
export YOLO_EXP_CACHE_DIR="$OUT/cache" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

if [ -z "${SKIP_SPEED:-}" ]; then
# 1. Real training on CUDA with AMP (fp16 + GradScaler) and channels_last: must finish and learn something.
timeout 100 python3 train.py device=cuda device.channels_last=true epochs=4 batch_size=64 workers=8 nbs=64 \
  hydra.run.dir="$OUT/amp_run" 2>&1 | grep -E "all |completed|Error|error" | tee "$OUT/amp.txt"

# 2. Model step and training-loop throughput, yolov5s 640 b64.
for args in "device.amp_dtype=fp16" "device.amp_dtype=fp16 device.channels_last=true" \
            "device.amp_dtype=bf16 device.channels_last=true"; do
  tag=$(echo "$args" | tr ' =.' '___')
  timeout 60 python3 -m yolo_exp.bench step model=yolov5s imgsz=640 batch_size=64 device=cuda $args \
    --iters 10 --json "$OUT/step_$tag.json" > /dev/null 2>&1
done
timeout 110 python3 -m yolo_exp.bench train model=yolov5s imgsz=640 batch_size=64 device=cuda workers=16 cache=ram \
  device.channels_last=true data.shapes.n_train=1024 data.shapes.img_size=640 --epochs 3 \
  --json "$OUT/train.json" > /dev/null 2>&1
fi

# 3. Quality bar (Engine issue): yolov5s from scratch on BCCD, 640, batch 32, 60 epochs, scratch-low, seed 0,
#    16 workers, cache ram. YOLOv5: P 0.837, R 0.861, mAP@0.5 0.885, mAP@0.5:0.95 0.547 (about 2.5 min on an H200).
if [ -n "${BCCD:-}" ] && [ -d "$BCCD" ]; then
  timeout 330 python3 train.py data=bccd data.path="$BCCD" model=yolov5s hyp=scratch-low imgsz=640 batch_size=32 \
    epochs=60 seed=0 workers=16 cache=ram device=cuda noplots=true hydra.run.dir="$OUT/bccd_yolov5s" 2>&1 \
    | grep -E " all |completed" | tail -3 | tee "$OUT/bccd.txt"
fi
python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for f in sorted(out.glob("*.json")):
    d = json.loads(f.read_text())
    for r in d["rows"]:
        within = r.get("images_per_s_in_epoch")
        extra = f"  ({within:.1f} within epochs)" if within else ""
        print(f"{f.stem:55s} {r.get('images_per_s', 0):9.1f} img/s  peak GPU {r.get('peak_gpu_gb', 0):5.1f} GB{extra}")
PY
