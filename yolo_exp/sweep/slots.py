"""Which GPU and how many CPU threads a job of a parallel sweep gets.

A job takes the lowest free slot among ``n_jobs`` by locking a file in the sweep folder (``.slots/N.lock``) for its
whole life; the lock goes with the process, also when it is killed. So a job that starts when another finished
takes exactly the slot that was freed: never two jobs on one GPU, never all on GPU 0, whatever order jobs end in.
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class Slot:
    index: int
    gpu: int | None  # None on a machine without GPUs; the first of ``gpus``
    threads: int  # intra-op threads and loader workers at most
    handle: IO | None = None  # keeps the lock
    gpus: list[int] | None = None  # a multi-GPU job's GPUs (device.gpus=N): N consecutive ones per slot


def acquire_slot(sweep_dir: Path, n_jobs: int, prefer: int | None = None) -> IO:
    """Lock the lowest free slot file (``prefer`` first: a reused worker process keeps its GPU, where its CUDA
    context already lives); returns the open file (closing it frees the slot)."""
    folder = Path(sweep_dir) / ".slots"
    folder.mkdir(parents=True, exist_ok=True)
    order = ([prefer] if prefer is not None and prefer < n_jobs else []) + [i for i in range(n_jobs) if i != prefer]
    while True:  # more jobs than slots only while a finished job's process lets go of its lock
        for index in order:
            handle = open(folder / f"{index}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                handle.write(str(os.getpid()))
                handle.flush()
                handle.index = index  # type: ignore[attr-defined]
                return handle
            except BlockingIOError:
                handle.close()
        import time

        time.sleep(0.2)


def slot_for(index: int, n_jobs: int, gpus: int, cores: int, per_job: int = 1) -> Slot:
    """Slot ``index`` of ``n_jobs``: ``per_job`` GPUs from ``index * per_job`` on, modulo the machine's (distinct
    while n_jobs * per_job <= gpus; GPU ``index % gpus`` for one-GPU jobs), cores / n_jobs threads."""
    mine = [(index * per_job + k) % gpus for k in range(per_job)] if gpus > 0 else None
    return Slot(index=index, gpu=mine[0] if mine else None, threads=max(1, cores // max(n_jobs, 1)), gpus=mine)


def take_slot(sweep_dir: Path, n_jobs: int, prefer: int | None = None, per_job: int = 1) -> Slot:
    import torch

    handle = acquire_slot(sweep_dir, n_jobs, prefer)
    slot = slot_for(handle.index, n_jobs, torch.cuda.device_count(), len(os.sched_getaffinity(0)), per_job)
    slot.handle = handle
    return slot
