"""One measurement of ``bench scale`` in a process of its own (``python -m yolo_exp.bench.scale_child MODE JSON``):
a fresh interpreter per figure, so that no cache, import or heap of an earlier one flatters it.

Modes: ``scan`` (build the dataset with an empty label cache: the verification), ``start`` (the cache hit, then
the loader's first batch and its workers' memory after a few more), ``run`` (everything a training run does
before its first batch, through the train config: data, model, both loaders, AutoAnchor, labels.jpg, provenance).
The last line printed is the figures as JSON.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()  # before the imports: ``run`` counts them, as a user waiting for the first batch does

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from yolo_exp.bench.procmem import Clock, epoch_touch_uss_mb, memory_mb, tree_bytes, workers_memory  # noqa: E402

BATCH, VAL_BATCH, MORE_BATCHES = 16, 32, 20


def _loader_args(p: dict[str, Any]) -> dict[str, Any]:
    """The arguments the train command's loaders get (build.train_loaders): augmented and shuffled for train,
    rectangular with validation's padding for val."""
    if p["split"] == "train":
        from yolo_exp.data.dataset import DEFAULT_AUG_HYP

        return {"batch_size": BATCH, "augment": True, "hyp": DEFAULT_AUG_HYP, "shuffle": True, "prefix": "train: "}
    return {"batch_size": VAL_BATCH, "rect": True, "pad": 0.5, "prefix": "val: "}


def scan(p: dict[str, Any]) -> dict[str, Any]:
    from yolo_exp.data.loader import create_dataloader

    base = memory_mb(os.getpid())["rss_mb"]
    clock = Clock()
    _, ds = create_dataloader(p["source"], p["imgsz"], stride=32, nc=p["nc"], workers=0,
                              cache_dir=Path(p["cache_dir"]), **_loader_args(p))
    wall, cpu = clock.lap()
    mem = memory_mb(os.getpid())
    return {"images": len(ds), "scan_s": wall, "scan_cpu_s": cpu, "main_peak_rss_mb": mem["peak_rss_mb"],
            "main_growth_mb": mem["peak_rss_mb"] - base,
            "cache_mb": tree_bytes(os.path.join(p["cache_dir"], "label_caches")) / 2**20}


def first_batches(loader: Any, it: Any = None, more: int = MORE_BATCHES) -> tuple[float, dict[str, float]]:
    """Seconds to the first batch; the workers' memory after ``more`` batches more. ``it``: the loader's own
    iterator where it keeps one (YOLOv5's InfiniteDataLoader)."""
    clock = Clock()
    it = it if it is not None else iter(loader)
    next(it)
    first = clock.lap()[0]
    for _ in range(more):
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
    return first, workers_memory([w.pid for w in getattr(it, "_workers", [])])


def start(p: dict[str, Any]) -> dict[str, Any]:
    from yolo_exp.data.loader import create_dataloader

    base = memory_mb(os.getpid())["rss_mb"]
    clock = Clock()
    loader, ds = create_dataloader(p["source"], p["imgsz"], stride=32, nc=p["nc"], workers=p["workers"],
                                   cache_dir=Path(p["cache_dir"]), **_loader_args(p))
    hit = clock.lap()[0]
    first, workers = first_batches(loader, more=p.get("more", MORE_BATCHES))
    mem = memory_mb(os.getpid())
    return {"images": len(ds), "hit_s": hit, "first_batch_s": hit + first, "main_peak_rss_mb": mem["peak_rss_mb"],
            "main_growth_mb": mem["peak_rss_mb"] - base, **workers, "worker_epoch_uss_mb": epoch_touch_uss_mb(ds)}


def run(p: dict[str, Any]) -> dict[str, Any]:
    """The train command's own start-up (build_training), timed from this process's start to the first batch."""
    from yolo_exp.build import build_training
    from yolo_exp.config.cli import compose_checked
    from yolo_exp.engine.trainer import LOG
    from yolo_exp.report.run_folder import RunFolder
    from yolo_exp.report.summary import RunSummary

    overrides = ["data=file", f"data.file={p['data_yaml']}", f"imgsz={p['imgsz']}", f"batch_size={BATCH}",
                 f"workers={p['workers']}", "device=cpu", f"cache_dir={p['cache_dir']}", *p.get("overrides", [])]
    cfg = compose_checked(overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        folder = RunFolder(run_dir, RunSummary(run_dir, overrides=overrides, choices={}, versions={}))
        parts = build_training(cfg, folder, LOG)
        built = time.perf_counter() - T0
        first, workers = first_batches(parts.train_loader)
    return {"images": len(parts.train_set), "built_s": built, "to_first_batch_s": built + first,
            "main_peak_rss_mb": memory_mb(os.getpid())["peak_rss_mb"], **workers}


MODES = {"scan": scan, "start": start, "run": run}


def main(argv: list[str]) -> int:
    mode, params = argv[0], json.loads(argv[1])
    print(json.dumps({"mode": mode, **MODES[mode](params)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
