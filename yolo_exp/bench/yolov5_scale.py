"""The YOLOv5 side of ``bench scale``: its own dataset and loader (``create_dataloader``) on the same data, with the
same parameters and figures as scale_child.py. Run by YOLOv5's interpreter, as a script:
``<yolov5 venv>/bin/python yolo_exp/bench/yolov5_scale.py MODE JSON``; only the standard-library helpers of this
package are imported. YOLOv5 writes its label cache next to the labels (``labels.cache``): point it at a copy.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from yolo_exp.bench.procmem import Clock, epoch_touch_uss_mb, memory_mb  # noqa: E402
from yolo_exp.bench.scale_child import BATCH, VAL_BATCH, first_batches  # noqa: E402


def _cache_file(source: str) -> Path:
    return Path(source).parent / "labels.cache"  # YOLOv5's: <labels folder>.cache for an images/ folder


def _args(p: dict[str, Any]) -> dict[str, Any]:
    """create_dataloader's arguments as YOLOv5's train.py and val.py pass them."""
    import yaml
    import yolov5

    if p["split"] == "train":
        hyp = yaml.safe_load((Path(yolov5.__file__).parent / "data/hyps/hyp.scratch-low.yaml").read_text())
        return {"batch_size": BATCH, "hyp": hyp, "augment": True, "prefix": "train: "}
    return {"batch_size": VAL_BATCH, "pad": 0.5, "rect": True, "prefix": "val: "}


def scan(p: dict[str, Any]) -> dict[str, Any]:
    """The dataset alone (no loader workers), its label cache removed first; the scan's pool is YOLOv5's
    (``NUM_THREADS`` processes: one per core but one)."""
    from yolov5.utils.dataloaders import LoadImagesAndLabels

    _cache_file(p["source"]).unlink(missing_ok=True)
    base = memory_mb(os.getpid())["rss_mb"]
    clock = Clock()
    ds = LoadImagesAndLabels(p["source"], p["imgsz"], stride=32, workers=p["workers"], **_args(p))
    wall, cpu = clock.lap()
    mem = memory_mb(os.getpid())
    return {"images": len(ds), "scan_s": wall, "scan_cpu_s": cpu, "main_peak_rss_mb": mem["peak_rss_mb"],
            "main_growth_mb": mem["peak_rss_mb"] - base, "cache_mb": _cache_file(p["source"]).stat().st_size / 2**20}


def start(p: dict[str, Any]) -> dict[str, Any]:
    """The cache hit and the first batch, as train.py and val.py build their loaders (the workers start with it)."""
    from yolov5.utils.dataloaders import create_dataloader

    base = memory_mb(os.getpid())["rss_mb"]
    clock = Clock()
    a = _args(p)
    loader, ds = create_dataloader(p["source"], p["imgsz"], a.pop("batch_size"), 32, workers=p["workers"],
                                   shuffle=p["split"] == "train", **a)
    hit = clock.lap()[0]
    first, workers = first_batches(loader, loader.iterator)
    mem = memory_mb(os.getpid())
    return {"images": len(ds), "hit_s": hit, "first_batch_s": hit + first, "main_peak_rss_mb": mem["peak_rss_mb"],
            "main_growth_mb": mem["peak_rss_mb"] - base, **workers, "worker_epoch_uss_mb": epoch_touch_uss_mb(ds)}


if __name__ == "__main__":
    mode, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"mode": mode, **{"scan": scan, "start": start}[mode](params)}), flush=True)
