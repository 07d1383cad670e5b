"""Memory of a process from /proc, standard library only: the YOLOv5 side of ``bench scale`` (run in another
Python environment) reports its figures with the very same code.

RSS counts every page a process maps, shared ones too: a forked loader worker shows the parent's whole heap as its
RSS though it owns little of it. USS (private pages) is what a worker really adds; its growth with the dataset is
what copy-on-write costs (refcounts touched on pages of the parent's Python objects).
"""
from __future__ import annotations

import os
import resource
import time


def _kib(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    out = {k: 0 for k in keys}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in out:
                    out[name] = int(rest.split()[0])
    except OSError:
        pass
    return out


def memory_mb(pid: int) -> dict[str, float]:
    """Current RSS, peak RSS (VmHWM) and USS (private clean + dirty) of a process, in MiB (0 when unreadable)."""
    st = _kib(f"/proc/{pid}/status", ("VmRSS", "VmHWM"))
    sm = _kib(f"/proc/{pid}/smaps_rollup", ("Private_Clean", "Private_Dirty"))
    return {"rss_mb": st["VmRSS"] / 1024, "peak_rss_mb": st["VmHWM"] / 1024,
            "uss_mb": (sm["Private_Clean"] + sm["Private_Dirty"]) / 1024}


def workers_memory(pids: list[int]) -> dict[str, float]:
    """The largest RSS and USS among a loader's worker processes (0 without workers)."""
    mem = [memory_mb(p) for p in pids]
    return {"worker_rss_mb": max((m["rss_mb"] for m in mem), default=0.0),
            "worker_uss_mb": max((m["uss_mb"] for m in mem), default=0.0)}


def cpu_seconds() -> float:
    """User + system time of this process and of its waited-for children (a scan's pool)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall and CPU seconds since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, cpu_seconds() - self.cpu


def tree_bytes(path: str) -> int:
    """Bytes of the regular files under a folder (or of one file)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(path) for n in names)


def epoch_touch_uss_mb(dataset: object, collect: bool = True) -> float:
    """USS of a process forked from this one (as a loader worker is) after it has read every sample's labels,
    segments and path once and (``collect``) run a full garbage collection: what a worker has copied of the
    parent's heap by the end of a long run. 0 where fork is not available."""
    import gc

    if not hasattr(os, "fork"):
        return 0.0
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: touch, measure, report, leave without running any of the parent's cleanup
        try:
            for name in ("labels", "segments", "im_files"):
                items = getattr(dataset, name, ())
                for i in range(len(items)):
                    items[i]
            if collect:
                gc.collect()
            os.write(w, str(memory_mb(os.getpid())["uss_mb"]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return float(out or 0.0)
