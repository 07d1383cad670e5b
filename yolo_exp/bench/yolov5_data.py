"""The YOLOv5 side of ``bench data --yolov5``: its own ``create_dataloader`` (augmented, shuffled, hyp.scratch-low
from its package) timed by the same code as ours (loadclock.py). Run by YOLOv5's interpreter, as a script:
``<yolov5 venv>/bin/python yolo_exp/bench/yolov5_data.py load JSON``; only the standard-library helpers of this
package are imported. YOLOv5 writes ``labels.cache`` next to the labels (and re-saves corrupt JPEGs in place):
point it at a copy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from yolo_exp.bench.loadclock import time_loader  # noqa: E402


def load(p: dict[str, Any]) -> dict[str, Any]:
    """Images/s and CPU per image of YOLOv5's training loader with ``p``'s size, batch, workers and cache."""
    import yaml
    import yolov5
    from yolov5.utils.dataloaders import create_dataloader

    hyp = yaml.safe_load((Path(yolov5.__file__).parent / "data/hyps/hyp.scratch-low.yaml").read_text())
    cache = None if p["cache"] == "none" else p["cache"]
    loader, _ = create_dataloader(p["source"], p["imgsz"], p["batch"], 32, hyp=hyp, augment=True, cache=cache,
                                  workers=p["workers"], shuffle=True, prefix="train: ")
    got = time_loader(loader, p["batches"])
    got.pop("worker_pids")
    return {"workers": loader.num_workers, "version": getattr(yolov5, "__version__", "?"), "hyp": hyp, **got}


if __name__ == "__main__":
    mode, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"mode": mode, **{"load": load}[mode](params)}), flush=True)
