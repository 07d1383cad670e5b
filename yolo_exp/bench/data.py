"""How fast the augmented training loader delivers images, per worker count, and what memory it takes."""
from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def _rendered(batch: Any, device: Any) -> Any:
    import torch

    imgs = batch.render(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return imgs


def bench_loader(
    sources: Path | str | Sequence[Path | str], imgsz: int, batch_size: int, workers_list: Sequence[int],
    hyp: Mapping[str, float] | None = None, n_batches: int = 20, nc: int = 0, cache: str = "none",
    gpu_augment: bool = False,
) -> list[dict[str, Any]]:
    """One row per worker count: images/s after one warm-up batch, peak RSS of the main process and of all workers.
    ``gpu_augment``: each batch is also made on the device (CUDA when present, else the CPU) within the time."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for workers in workers_list:
        loader, dataset = create_dataloader(sources, imgsz, batch_size, 32, nc, hyp=hyp, augment=True,
                                            workers=workers, shuffle=True, cache=cache, gpu_augment=gpu_augment)
        it, seen, t0, render_s = iter(loader), 0, 0.0, 0.0
        for i in range(n_batches + 1):
            try:
                imgs = next(it)[0]
            except StopIteration:
                it = iter(loader)
                imgs = next(it)[0]
            if gpu_augment:
                r0 = time.perf_counter()
                imgs = _rendered(imgs, device)
                render_s += time.perf_counter() - r0 if i else 0.0
            if i == 0:
                t0 = time.perf_counter()  # exclude worker start-up and the first batch
            else:
                seen += len(imgs)
        dt = time.perf_counter() - t0
        pids = [w.pid for w in getattr(it, "_workers", [])]
        rows.append({
            "workers": loader.num_workers,
            "gpu_augment": gpu_augment,
            "augment_device": str(device) if gpu_augment else "cpu (workers)",
            "images_per_s": seen / dt if dt > 0 else float("nan"),
            "render_share": render_s / dt if dt > 0 else float("nan"),  # of the time: making images on the device
            "batches": n_batches,
            "main_rss_mb": _peak_rss_mb(os.getpid()),
            "workers_rss_mb": sum(_peak_rss_mb(p) for p in pids),
        })
        del it, loader, dataset
    return rows


def bench_data(cfg, workers: list[int], batches: int = 30) -> list[dict[str, Any]]:
    """Augmented training images/s of the loader alone, per worker count (yolo_exp.bench.data)."""
    from omegaconf import OmegaConf

    from yolo_exp.data.spec import resolve_data

    spec = resolve_data(OmegaConf.to_container(cfg.data, resolve=True))
    rows = bench_loader(spec.train, cfg.imgsz, cfg.batch_size, workers, hyp=OmegaConf.to_container(cfg.hyp),
                        n_batches=batches, nc=spec.nc, cache=str(getattr(cfg.cache, "value", cfg.cache)),
                        gpu_augment=bool(cfg.data.get("gpu_augment", False)))
    return [{"bench": "data", **row} for row in rows]
