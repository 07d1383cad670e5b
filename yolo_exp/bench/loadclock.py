"""Wall and CPU time of a loader's batches, standard library only: the YOLOv5 side of ``bench data --yolov5`` (run
by another Python) times its loader with the very same code as ours.

CPU time is what the per-core goal is about: on a GPU machine every worker is a core, so images per CPU-second (main
process and workers together) says how many cores a loader needs for a given rate. A worker's time is read from
``/proc/<pid>/stat`` (user + system, all its threads) at the start and the end of the timed batches; the batches the
workers prefetch before the start and after the end roughly cancel out over a run of some tens of batches.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pid_cpu_seconds(pid: int) -> float | None:
    """User + system seconds of a live process (all its threads); None when it cannot be read (gone, not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()  # the command name may hold spaces: after its ')'
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # stat fields 14 and 15 (utime, stime)


def worker_pids(loader: Any, it: Any) -> list[int]:
    """The worker processes behind a loader's iterator (YOLOv5's InfiniteDataLoader keeps its own: ``iterator``)."""
    inner = getattr(loader, "iterator", None)
    inner = it if inner is None else inner
    return [w.pid for w in getattr(inner, "_workers", [])]


def _workers_cpu(pids: list[int]) -> dict[int, float]:
    return {p: s for p in pids if (s := pid_cpu_seconds(p)) is not None}


def time_loader(loader: Any, n_batches: int, render: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Images/s and CPU seconds per image over ``n_batches`` after one warm-up batch (worker start-up and the
    first batch excluded); a pass that ends is started again. ``render(imgs) -> imgs``: a step each batch also
    takes, inside the time (``render_s`` says how much)."""
    it = iter(loader)
    imgs = next(it)[0]
    if render is not None:
        render(imgs)
    pids = worker_pids(loader, it)
    w0 = _workers_cpu(pids)
    c0, t0, seen, render_s = time.process_time(), time.perf_counter(), 0, 0.0
    for _ in range(n_batches):
        try:
            imgs = next(it)[0]
        except StopIteration:
            it = iter(loader)
            imgs = next(it)[0]
        if render is not None:
            r0 = time.perf_counter()
            imgs = render(imgs)
            render_s += time.perf_counter() - r0
        seen += len(imgs)
    wall, main = time.perf_counter() - t0, time.process_time() - c0
    w1 = _workers_cpu(pids)
    workers = sum(w1[p] - w0[p] for p in w0 if p in w1)
    return {"images": seen, "wall_s": wall, "render_s": render_s, "worker_pids": pids,
            **cpu_figures(seen, wall, main, workers)}


def cpu_figures(images: int, wall: float, main_cpu: float, workers_cpu: float) -> dict[str, float]:
    """Rates from the counts: images/s (wall), CPU seconds per image of the main process and of all workers, and
    images per CPU-second of both together (the per-core figure)."""
    nan = float("nan")
    cpu = main_cpu + workers_cpu
    return {"images_per_s": images / wall if wall > 0 else nan,
            "main_cpu_s_per_image": main_cpu / images if images else nan,
            "workers_cpu_s_per_image": workers_cpu / images if images else nan,
            "images_per_cpu_s": images / cpu if cpu > 0 else nan}
