#!/usr/bin/env bash
# Ours beside YOLOv5's own train.py on one dataset: the same settings, N seeds each side, one training at a time
# (ours and YOLOv5 alternating, so machine load touches both alike), then both tables (docs/quality.md).
#
#   bash bench/parity.sh DATA_YAML [ft|scratch] [SEEDS] [EPOCHS] [IMGSZ]
#   bash bench/parity.sh /data/wbc/data.yaml ft "0 1 2" 10 320
#   TASK=segment bash bench/parity.sh /data/shapes-seg/data.yaml ft "0 1 2" 8 256  # yolov5n-seg, segment/train.py
#   bash bench/parity.sh --table OUT_DIR          # only print the tables of runs already made in OUT_DIR
#
# DATA_YAML is a YOLO data.yaml (relative `path:` resolves against its folder). YOLOv5 gets a copy of the labels
# (it writes its label caches beside them) and of the images under $OUT (it resolves links, and re-saves
# corrupt JPEGs in place); the dataset itself is not touched.
# Environment: ORACLE (venv with the yolov5 package, default /work/oracle/venv), WEIGHTS (start of a fine-tune,
# default ../shared/weights/yolov5n.pt), OUT (default /tmp/parity-bench), BATCH (16), HYP (scratch-low),
# OMP_NUM_THREADS (1 per run, the CPU figures of docs/quality.md), DEVICE (cpu), TASK (detect; segment: yolov5n-seg on
# both sides, YOLOv5's segment/train.py, box and mask columns), NBS (nominal batch, 64 as both defaults), SIDES
# ("ours yolov5"; "ours" reruns only ours after a change of ours, beside YOLOv5's runs already in OUT).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/parity-bench}
if [ "${1:-}" = "--table" ]; then OUT=$2; set -- ; fi

table() {
  python - "$OUT" <<'EOF'
"""Both sides' final figures (best.pt validated at the end of each run) from the logs, and the best epoch."""
import csv, re, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
NUM = r"\s+([\d.]+(?:e[-+]?\d+)?)"
ALL = re.compile(r"\ball\s+\d+\s+\d+" + NUM * 4 + f"(?:{NUM * 4})?")  # box P R mAP50 mAP [mask P R mAP50 mAP]
def best_epoch(results):
    """The epoch of the best fitness, 0.1·mAP@0.5 + 0.9·mAP@0.5:0.95 (of boxes plus masks for segmentation)."""
    rows = list(csv.reader(results.open()))
    head = [h.strip() for h in rows[0]]
    cols = [[i for i, h in enumerate(head) if h == f"metrics/{name}{kind}"] for kind in ("", "(B)", "(M)")
            for name in ("mAP_0.5", "mAP_0.5:0.95")]
    cols = [c[0] for c in cols if c]
    box = head.index("train/box_loss")  # segment/train.py appends its final validation as a row without losses
    fit = [sum(w * float(r[c]) for w, c in zip((0.1, 0.9) * 2, cols)) for r in rows[1:] if r and float(r[box])]
    return max(range(len(fit)), key=lambda i: (fit[i], i)) if fit else None
for side in ("ours", "yolov5"):
    seg = any(ALL.search(p.read_text(errors="replace")) and ALL.findall(p.read_text(errors="replace"))[-1][4]
              for p in (out / side).glob("*.log"))
    extra = " mask P | mask R | mask mAP@0.5 | mask mAP@0.5:0.95 |" if seg else ""
    print(f"\n| {side} | seed | P | R | mAP@0.5 | mAP@0.5:0.95 |{extra} best epoch |\n|---|---|---|---|---|---|"
          + "---|" * (5 if seg else 1))
    maps, masks = [], []
    for log in sorted((out / side).glob("*.log")):
        if not log.is_file():  # a run not made yet
            continue
        text = log.read_text(errors="replace")
        hits = ALL.findall(text[text.rfind("Validating"):]) if "Validating" in text else []  # best.pt at the end
        if not hits:
            print(f"| {side} | {log.stem} | (running, or failed: no final validation in {log}) |||||")
            continue
        values = [float(v) for v in hits[-1] if v]
        maps.append(values[3])
        masks += values[7:8]
        res = next((out / side / log.stem).rglob("results.csv"), None)
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {side} | {log.stem} | {cells} | {best_epoch(res) if res else '?'} |")
    for name, col in (("box", maps), ("mask", masks)):
        if col:
            sd = f" (sd {statistics.stdev(col):.3f})" if len(col) > 1 else ""
            print(f"| {side} | mean {name} mAP@0.5:0.95 | **{statistics.mean(col):.3f}**{sd} |")
EOF
}

if [ $# -eq 0 ]; then table; exit 0; fi
DATA=$(readlink -f "$1"); MODE=${2:-ft}; SEEDS=${3:-0 1 2}; EPOCHS=${4:-10}; IMGSZ=${5:-320}
ORACLE=${ORACLE:-/work/oracle/venv}; WEIGHTS=$(readlink -f "${WEIGHTS:-$ROOT/../shared/weights/yolov5n.pt}")
BATCH=${BATCH:-16}; HYP=${HYP:-scratch-low}; DEVICE=${DEVICE:-cpu}; TASK=${TASK:-detect}; NBS=${NBS:-64}
SIDES=${SIDES:-ours yolov5}
if [ "$TASK" = segment ]; then OM=yolov5n-seg; YCFG=yolov5n-seg.yaml; YTRAIN=yolov5.segment.train
else OM=yolov5n; YCFG=yolov5n.yaml; YTRAIN=yolov5.train; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT/ours" "$OUT/yolov5"

# YOLOv5's view of the dataset: labels copied (its caches go beside them), images linked, absolute path
python - "$DATA" "$OUT/data" <<'EOF'
import os, shutil, sys, yaml
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])


d = yaml.safe_load(src.read_text())
root = (src.parent / (d.get("path") or ".")).resolve()
for split in ("train", "val"):
    images = (root / d[split]).resolve()
    head, sep, tail = str(images).rpartition(f"{os.sep}images{os.sep}")  # YOLOv5's rule: the last /images/
    labels = Path(f"{head}{os.sep}labels{os.sep}{tail}" if sep else str(images).rsplit("images", 1)[0] + "labels")
    if not (dst / "images" / split).exists():  # YOLOv5 resolves symlinks
        shutil.copytree(images, dst / "images" / split)  # copies: it also re-saves corrupt JPEGs
    if not (dst / "labels" / split).exists():
        shutil.copytree(labels, dst / "labels" / split)
    d[split] = f"images/{split}"
d["path"] = str(dst)
d.pop("test", None)
(dst / "data.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
EOF

SP=$("$ORACLE/bin/python" -c 'import yolov5, os; print(os.path.dirname(yolov5.__file__))')
for S in $SEEDS; do
  if [ "$MODE" = ft ]; then OW="weights=$WEIGHTS"; YW=(--weights "$WEIGHTS"); else OW="weights=null"; YW=(--weights ''); fi
  [ "$MODE" = ft ] && [ "$TASK" = detect ] || YW+=(--cfg "$YCFG")  # a seg model from detection weights: --cfg
  if [[ " $SIDES " == *" ours "* ]]; then (cd "$ROOT" && python train.py data=file data.file="$DATA" $OW model=$OM imgsz="$IMGSZ" batch_size="$BATCH" \
      epochs="$EPOCHS" hyp="$HYP" nbs="$NBS" workers=2 seed="$S" device="$DEVICE" noplots=true \
      cache_dir="$OUT/cache" hydra.run.dir="$OUT/ours/s$S") > "$OUT/ours/s$S.log" 2>&1; fi
  # YOLOv5's nominal batch is a constant in its train.py (nbs = 64): another NBS runs a patched copy beside it
  YMOD=$YTRAIN; SRC="$SP/$(echo "${YTRAIN#yolov5.}" | tr . /).py"
  if [ "$NBS" != 64 ]; then
    YMOD=${YTRAIN}_nbs$NBS; sed "s/^\( *\)nbs = 64 /\1nbs = $NBS /" "$SRC" > "${SRC%.py}_nbs$NBS.py"
    grep -q "nbs = $NBS " "${SRC%.py}_nbs$NBS.py"
  fi
  if [[ " $SIDES " == *" yolov5 "* ]]; then (cd "$OUT" && TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$ORACLE/bin/python" -m $YMOD --img "$IMGSZ" \
      --batch "$BATCH" --epochs "$EPOCHS" --hyp "$SP/data/hyps/hyp.$HYP.yaml" --data "$OUT/data/data.yaml" \
      --workers 2 --device "$DEVICE" --seed "$S" "${YW[@]}" --project "$OUT/yolov5" --name "s$S" --exist-ok \
      --noplots) > "$OUT/yolov5/s$S.log" 2>&1; fi
done
table
