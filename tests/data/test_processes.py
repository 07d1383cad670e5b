"""Loader workers start inside a launcher's worker process that installed its own multiprocessing context (joblib's
loky, the parallel launcher): they get a standard library start method there, torch's default elsewhere."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from yolo_exp.data.processes import worker_context

loky = pytest.importorskip("joblib.externals.loky")


def _first_batch_in_a_loky_worker(root: str) -> tuple[str | None, int]:
    from yolo_exp.data.loader import create_dataloader

    loader, _ = create_dataloader(root + "/images/train", imgsz=64, batch_size=2, stride=32, nc=3, workers=1,
                                  cache_dir=Path(root) / "cache")
    imgs = next(iter(loader))[0]
    return mp.get_start_method(allow_none=True), loader.num_workers, tuple(imgs.shape)


def test_loader_workers_run_inside_loky_workers(good_dataset):
    executor = loky.get_reusable_executor(max_workers=1)  # what joblib's default backend runs jobs in
    method, workers, shape = executor.submit(_first_batch_in_a_loky_worker, str(good_dataset)).result(timeout=120)
    assert method == "loky" and workers == 1 and shape == (2, 3, 64, 64)


def test_the_default_context_is_kept_when_it_is_a_standard_one():
    assert worker_context() is None
