"""``bench data --yolov5 PY``: our training loader beside YOLOv5's ``create_dataloader`` on the same images, with
the same size, batch, workers, cache and augmentation (hyp.scratch-low: its package's file, compared with ours).

Every measurement is a fresh process (``python -m yolo_exp.bench.data_vs load JSON`` for ours, yolov5_data.py for
YOLOv5's), one per side, worker count and pair, interleaved (ours, YOLOv5, ours, YOLOv5, ...) so that load on a
shared machine affects both alike; both time their batches with loadclock.py. YOLOv5 writes ``labels.cache`` next
to the labels: both sides read a copy of the split in a temporary folder, removed afterwards.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FIGURES = ("images_per_s", "main_cpu_s_per_image", "workers_cpu_s_per_image", "images_per_cpu_s")


def copy_split(sources: Path | str | Sequence[Path | str], dst: Path) -> Path:
    """The images of ``sources`` and their label files copied (not linked: YOLOv5 re-saves a corrupt JPEG in place)
    to ``dst/images`` and ``dst/labels``; returns the images folder."""
    from yolo_exp.data.files import img2label_path, list_images

    (dst / "images").mkdir(parents=True)
    (dst / "labels").mkdir()
    names: set[str] = set()
    for k, f in enumerate(list_images(sources)):
        name = Path(f).name if Path(f).name not in names else f"{k}_{Path(f).name}"
        names.add(name)
        shutil.copyfile(f, dst / "images" / name)
        label = Path(img2label_path(f))
        if label.is_file():
            shutil.copyfile(label, (dst / "labels" / name).with_suffix(".txt"))
    return dst / "images"


def load(p: dict[str, Any]) -> dict[str, Any]:
    """Our side of one measurement (run in its own process)."""
    from yolo_exp.bench.data import bench_loader

    row = bench_loader(p["source"], p["imgsz"], p["batch"], [p["workers"]], hyp=p["hyp"], n_batches=p["batches"],
                       nc=p["nc"], cache=p["cache"], cache_dir=Path(p["cache_dir"]))[0]
    return {"workers": row["workers"], **{k: row[k] for k in FIGURES}}


def hyp_differences(ours: Mapping[str, float], theirs: Mapping[str, float]) -> dict[str, tuple[Any, Any]]:
    """Augmentation values that differ between our hyp and YOLOv5's file: (ours, theirs) per key."""
    from yolo_exp.data.dataset import DEFAULT_AUG_HYP

    mine = {**DEFAULT_AUG_HYP, **ours}
    return {k: (mine[k], theirs.get(k)) for k in DEFAULT_AUG_HYP if theirs.get(k) != mine[k]}


def ratio_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per worker count: ours over YOLOv5's, of the means over pairs of images/s and images per CPU-second."""
    out = []
    for w in dict.fromkeys(r["workers"] for r in rows):
        mean = {}
        for side in ("ours", "yolov5"):
            got = [r for r in rows if r["workers"] == w and r["side"] == side]
            mean[side] = {k: sum(r[k] for r in got) / len(got) for k in ("images_per_s", "images_per_cpu_s")}
        out.append({"side": "ours/yolov5", "workers": w, "cache": rows[0]["cache"],
                    **{k: mean["ours"][k] / mean["yolov5"][k] for k in mean["ours"]}})
    return out


def bench_data_vs(sources: Path | str | Sequence[Path | str], imgsz: int, batch: int, workers: Sequence[int],
                  hyp: Mapping[str, float], batches: int, nc: int, cache: str, yolov5: str,
                  pairs: int = 1) -> list[dict[str, Any]]:
    """One row per side, worker count and pair, then the ratio rows."""
    from yolo_exp.bench.scale import child, child_env

    here, env = Path(__file__).resolve().parent, child_env()
    cmds = {"ours": [sys.executable, "-m", "yolo_exp.bench.data_vs"], "yolov5": [yolov5, str(here / "yolov5_data.py")]}
    tmp = Path(tempfile.mkdtemp(prefix="yolo_exp-data-"))
    try:
        params = {"source": str(copy_split(sources, tmp / "data")), "imgsz": imgsz, "batch": batch, "nc": nc,
                  "cache": cache, "batches": batches, "hyp": dict(hyp), "cache_dir": str(tmp / "cache")}
        rows = []
        for w in workers:
            for pair in range(pairs):
                for side, cmd in cmds.items():
                    got = child(cmd, "load", {**params, "workers": w}, env, tmp)
                    extra = {}
                    if side == "yolov5":
                        diff = hyp_differences(hyp, got["hyp"])
                        extra = {"version": got["version"], "hyp_differs": json.dumps(diff) if diff else "no"}
                    rows.append({"side": side, "workers": got["workers"], "cache": cache, "pair": pair,
                                 **{k: got[k] for k in FIGURES}, **extra})
        return rows + ratio_rows(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    mode, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"mode": mode, **{"load": load}[mode](params)}), flush=True)
