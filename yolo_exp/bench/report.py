"""One table of the GPU levers (bench/gpu.sh): each lever's model step and loop figures beside YOLOv5's.

``python -m yolo_exp.bench.report OUT`` reads the ``step_*.json`` and ``loop_*.json`` files that
``python -m yolo_exp.bench {step,train} ... --json`` wrote into OUT (the tag after the prefix names the lever), and
the quality run's summary.json when there is one (``OUT/bccd_yolov5s``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# YOLOv5's own figures for yolov5s, 640, batch 64 (the GPU speed issue; H100): model step, training loop.
YOLOV5_REFERENCE = [("YOLOv5 step fp16 NCHW (H100)", 574.0, None),
                    ("YOLOv5 step fp16 channels_last (H100)", 1027.0, None),
                    ("YOLOv5 loop, 16 workers, cache ram", None, 340.0)]
YOLOV5_BCCD = {"precision": 0.837, "recall": 0.861, "map50": 0.885, "map": 0.547}  # 60 epochs, scratch-low, seed 0


def _rows(out: Path, prefix: str) -> dict[str, dict]:
    found = {}
    for f in sorted(out.glob(f"{prefix}_*.json")):
        rows = json.loads(f.read_text()).get("rows") or [{}]
        found[f.stem.removeprefix(f"{prefix}_")] = rows[0]
    return found


def _cell(value: float | None, fmt: str) -> str:
    if isinstance(value, (int, float)):
        return format(value, fmt)
    return "-".rjust(int("".join(c for c in fmt.split(".")[0] if c.isdigit()) or 0))


def lever_table(out: Path) -> str:
    steps, loops = _rows(out, "step"), _rows(out, "loop")
    lines = [f"{'lever':44s} {'step img/s':>10s} {'MFU':>6s} {'GPU busy':>8s} {'peak GB':>7s} "
             f"{'loop img/s':>10s} {'data wait':>9s} {'loop/step':>9s}"]
    for lever in dict.fromkeys([*steps, *loops]):
        s, lp = steps.get(lever, {}), loops.get(lever, {})
        ratio = lp.get("images_per_s") / s["images_per_s"] if lp.get("images_per_s") and s.get("images_per_s") \
            else None
        lines.append(f"{lever:44s} {_cell(s.get('images_per_s'), '10.0f')} {_cell(s.get('mfu'), '6.1%')} "
                     f"{_cell(s.get('gpu_busy'), '8.0%')} "
                     f"{_cell(s.get('peak_gpu_gb') or lp.get('peak_gpu_gb'), '7.1f')} "
                     f"{_cell(lp.get('images_per_s'), '10.0f')} {_cell(lp.get('data_wait'), '9.0%')} "
                     f"{_cell(ratio, '9.2f')}")
    for name, step, loop in YOLOV5_REFERENCE:
        lines.append(f"{name:44s} {_cell(step, '10.0f')} {'':>6s} {'':>8s} {'':>7s} {_cell(loop, '10.0f')}")
    summary = out / "bccd_yolov5s" / "summary.json"
    if summary.is_file():
        final = json.loads(summary.read_text()).get("final") or {}
        ours = " ".join(f"{k} {_cell(final.get(k), '.3f')}" for k in YOLOV5_BCCD)
        theirs = " ".join(f"{k} {v:.3f}" for k, v in YOLOV5_BCCD.items())
        lines += [f"quality bar (BCCD yolov5s 60 epochs): ours {ours}", f"{'':38s}YOLOv5 {theirs}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(lever_table(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
