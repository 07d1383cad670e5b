"""How fast the augmented training loader delivers images, per worker count, and what memory it takes."""
from __future__ import annotations

import os
import resource
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yolo_exp.bench.loadclock import time_loader
from yolo_exp.data.loader import create_dataloader


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == os.getpid() else 0.0


def bench_loader(
    sources: Path | str | Sequence[Path | str], imgsz: int, batch_size: int, workers_list: Sequence[int],
    hyp: Mapping[str, float] | None = None, n_batches: int = 20, nc: int = 0, cache: str = "none",
    gpu_augment: bool = False, cache_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per worker count: images/s after one warm-up batch, CPU seconds per image of the main process and
    of the workers (loadclock.py), peak RSS of both. ``gpu_augment``: each batch is also made on the device (CUDA
    when present, else the CPU) within the time."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def render(imgs: Any) -> Any:
        imgs = imgs.render(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return imgs

    rows = []
    for workers in workers_list:
        loader, dataset = create_dataloader(sources, imgsz, batch_size, 32, nc, hyp=hyp, augment=True,
                                            workers=workers, shuffle=True, cache=cache, gpu_augment=gpu_augment,
                                            cache_dir=cache_dir)
        got = time_loader(loader, n_batches, render if gpu_augment else None)
        rows.append({
            "workers": loader.num_workers,
            "gpu_augment": gpu_augment,
            "augment_device": str(device) if gpu_augment else "cpu (workers)",
            "images_per_s": got["images_per_s"],
            "render_share": got["render_s"] / got["wall_s"] if got["wall_s"] > 0 else float("nan"),
            **{k: got[k] for k in ("main_cpu_s_per_image", "workers_cpu_s_per_image", "images_per_cpu_s")},
            "batches": n_batches,
            "main_rss_mb": _peak_rss_mb(os.getpid()),
            "workers_rss_mb": sum(_peak_rss_mb(p) for p in got["worker_pids"]),
        })
        del loader, dataset
    return rows


def bench_data(cfg, workers: list[int], batches: int = 30, yolov5: str | None = None, pairs: int = 1,
               stages: int = 0) -> list[dict[str, Any]]:
    """Augmented training images/s of the loader alone, per worker count (yolo_exp.bench.data); with ``yolov5``
    (its Python) beside YOLOv5's loader, each in fresh processes (data_vs.py); with ``stages`` (a sample count)
    the cost of each step of one sample instead (stages.py)."""
    from omegaconf import OmegaConf

    from yolo_exp.data.spec import resolve_data

    spec = resolve_data(OmegaConf.to_container(cfg.data, resolve=True))
    hyp, cache = OmegaConf.to_container(cfg.hyp), str(getattr(cfg.cache, "value", cfg.cache))
    if stages:
        from yolo_exp.bench.stages import stage_table

        return [{"bench": "data-stages", **row}
                for row in stage_table(spec.train, cfg.imgsz, cfg.batch_size, hyp, stages, spec.nc, cache)]
    if yolov5:
        from yolo_exp.bench.data_vs import bench_data_vs

        return [{"bench": "data", **row} for row in bench_data_vs(spec.train, cfg.imgsz, cfg.batch_size, workers,
                                                                   hyp, batches, spec.nc, cache, yolov5, pairs)]
    rows = bench_loader(spec.train, cfg.imgsz, cfg.batch_size, workers, hyp=hyp, n_batches=batches, nc=spec.nc,
                        cache=cache, gpu_augment=bool(cfg.data.get("gpu_augment", False)))
    return [{"bench": "data", **row} for row in rows]
