#!/usr/bin/env bash
# Ours beside YOLOv5's own train.py on one dataset: the same settings, N seeds each side, one training at a time
# (ours and YOLOv5 alternating, so machine load touches both alike), then both tables (docs/quality.md).
#
#   bash bench/parity.sh DATA_YAML [ft|scratch] [SEEDS] [EPOCHS] [IMGSZ]
#   bash bench/parity.sh /data/wbc/data.yaml ft "0 1 2" 10 320
#   bash bench/parity.sh --table OUT_DIR          # only print the tables of runs already made in OUT_DIR
#
# DATA_YAML is a YOLO data.yaml (relative `path:` resolves against its folder). YOLOv5 gets a copy of the labels
# (it writes its label caches beside them) and of the images under $OUT (it resolves links, and re-saves
# corrupt JPEGs in place); the dataset itself is not touched.
# Environment: ORACLE (venv with the yolov5 package, default /work/oracle/venv), WEIGHTS (start of a fine-tune,
# default ../shared/weights/yolov5n.pt), OUT (default /tmp/parity-bench), BATCH (16), HYP (scratch-low),
# OMP_NUM_THREADS (1 per run, the CPU figures of docs/quality.md), DEVICE (cpu).
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
ALL = re.compile(r"\ball\s+\d+\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")
def best_epoch(results):
    rows = list(csv.reader(results.open()))
    head = [h.strip() for h in rows[0]]
    col = lambda names: next(i for i, h in enumerate(head) if h in names)
    m50, m = col(("metrics/mAP_0.5", "metrics/mAP50(B)", "map50")), col(("metrics/mAP_0.5:0.95", "metrics/mAP50-95(B)", "map"))
    fit = [0.1 * float(r[m50]) + 0.9 * float(r[m]) for r in rows[1:] if r]
    return max(range(len(fit)), key=lambda i: (fit[i], i)) if fit else None
for side in ("ours", "yolov5"):
    print(f"\n| {side} | seed | P | R | mAP@0.5 | mAP@0.5:0.95 | best epoch |\n|---|---|---|---|---|---|---|")
    maps = []
    for log in sorted((out / side).glob("*.log")):
        if not log.is_file():  # a run not made yet
            continue
        text = log.read_text(errors="replace")
        hits = ALL.findall(text[text.rfind("Validating"):]) if "Validating" in text else []  # best.pt at the end
        if not hits:
            print(f"| {side} | {log.stem} | (running, or failed: no final validation in {log}) |||||")
            continue
        p, r, m50, m = (float(v) for v in hits[-1])
        maps.append(m)
        res = next((out / side / log.stem).rglob("results.csv"), None)
        print(f"| {side} | {log.stem} | {p:.3f} | {r:.3f} | {m50:.3f} | {m:.3f} | {best_epoch(res) if res else '?'} |")
    if maps:
        sd = f" (sd {statistics.stdev(maps):.3f})" if len(maps) > 1 else ""
        print(f"| {side} | mean | | | | **{statistics.mean(maps):.3f}**{sd} | |")
EOF
}

if [ $# -eq 0 ]; then table; exit 0; fi
DATA=$(readlink -f "$1"); MODE=${2:-ft}; SEEDS=${3:-0 1 2}; EPOCHS=${4:-10}; IMGSZ=${5:-320}
ORACLE=${ORACLE:-/work/oracle/venv}; WEIGHTS=$(readlink -f "${WEIGHTS:-$ROOT/../shared/weights/yolov5n.pt}")
BATCH=${BATCH:-16}; HYP=${HYP:-scratch-low}; DEVICE=${DEVICE:-cpu}
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
  if [ "$MODE" = ft ]; then OW="weights=$WEIGHTS"; YW=(--weights "$WEIGHTS"); else OW="weights=null"; YW=(--weights '' --cfg yolov5n.yaml); fi
  (cd "$ROOT" && python train.py data=file data.file="$DATA" $OW model=yolov5n imgsz="$IMGSZ" batch_size="$BATCH" \
      epochs="$EPOCHS" hyp="$HYP" workers=2 seed="$S" device="$DEVICE" noplots=true cache_dir="$OUT/cache" \
      hydra.run.dir="$OUT/ours/s$S") > "$OUT/ours/s$S.log" 2>&1
  (cd "$OUT" && TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$ORACLE/bin/python" -m yolov5.train --img "$IMGSZ" \
      --batch "$BATCH" --epochs "$EPOCHS" --hyp "$SP/data/hyps/hyp.$HYP.yaml" --data "$OUT/data/data.yaml" \
      --workers 2 --device "$DEVICE" --seed "$S" "${YW[@]}" --project "$OUT/yolov5" --name "s$S" --exist-ok \
      --noplots) > "$OUT/yolov5/s$S.log" 2>&1
done
table
