"""``bench data --stages``: what each step of one augmented training sample costs, in one process.

The dataset's own calls are timed while it makes real samples (``dataset[(index, mosaic, epoch)]``, a fixed seed),
not a copy of its pipeline: its image operations (``dataset.images``: paste, warp, finish, blend, pad), its
``load_image`` and ``augment.apply_hsv`` are wrapped for the run and restored after. A step that gets faster
internally shows as faster; one that is no longer called shows 0 calls. Times are exclusive: HSV, called inside
``finish``, is not counted again in it, and ``labels`` is what ``__getitem__`` spends outside every timed call
(the draws, the labels through mosaic and warp, flips of the labels, the targets). ``collate`` is timed on batches
of the samples as they are made. OpenCV and torch run on one thread, as in a loader worker.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

STAGES = {"load_image": "decode_resize", "paste": "mosaic_paste", "warp": "warp", "apply_hsv": "hsv",
          "finish": "flip_chw", "blend": "mixup", "pad": "letterbox_pad", "getitem": "labels", "collate": "collate"}
CORE = ("decode_resize", "mosaic_paste", "warp", "hsv", "flip_chw", "labels", "collate")


class Timers:
    """Exclusive seconds and calls per stage: the time of a timed call made inside another is its own stage's."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._inner: list[float] = []

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._inner.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                self.seconds[stage] += dt - self._inner.pop()
                self.calls[stage] += 1
                if self._inner:
                    self._inner[-1] += dt
        return timed


class _TimedImages:
    """The dataset's image operations, each call timed; anything else passes through."""

    def __init__(self, images: Any, timers: Timers) -> None:
        self._images = images
        for op in ("paste", "warp", "finish", "blend", "pad"):
            if hasattr(images, op):
                setattr(self, op, timers.wrap(STAGES[op], getattr(images, op)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._images, name)


@contextmanager
def instrumented(dataset: Any, timers: Timers) -> Iterator[None]:
    """The dataset's calls timed inside the block, one thread for OpenCV and torch; everything restored after."""
    import cv2
    import torch

    from yolo_exp.data import augment

    hsv, images, cv_threads, threads = augment.apply_hsv, dataset.images, cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    dataset.images = _TimedImages(images, timers)
    dataset.load_image = timers.wrap(STAGES["load_image"], dataset.load_image)
    augment.apply_hsv = timers.wrap(STAGES["apply_hsv"], hsv)
    try:
        yield
    finally:
        augment.apply_hsv, dataset.images = hsv, images
        del dataset.load_image
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(threads)


def time_stages(dataset: Any, samples: int, batch_size: int) -> Timers:
    """Time ``samples`` augmented samples (index k mod len, epoch k div len: a fixed draw for each) and their
    collation in batches of ``batch_size``."""
    from yolo_exp.data.dataset import collate

    timers = Timers()
    with instrumented(dataset, timers):
        getitem = timers.wrap(STAGES["getitem"], dataset.__getitem__)
        timed_collate = timers.wrap(STAGES["collate"], collate)
        batch: list[Any] = []
        for k in range(samples):
            batch.append(getitem((k % len(dataset), True, k // len(dataset))))
            if len(batch) == batch_size or k == samples - 1:
                timed_collate(batch)
                batch = []
    return timers


def stage_rows(timers: Timers, samples: int) -> list[dict[str, Any]]:
    """One row per stage (the core ones always, others when called): ms per image, share of the total, calls per
    image; then the total."""
    total = sum(timers.seconds.values())
    names = [*CORE, *(s for s in STAGES.values() if s not in CORE and timers.calls.get(s))]
    rows = [{"stage": s, "ms_per_image": 1000 * timers.seconds.get(s, 0.0) / samples,
             "share": timers.seconds.get(s, 0.0) / total if total > 0 else float("nan"),
             "calls_per_image": timers.calls.get(s, 0) / samples} for s in names]
    return rows + [{"stage": "total", "ms_per_image": 1000 * total / samples, "share": 1.0,
                    "images_per_s": samples / total if total > 0 else float("nan")}]


def stage_table(sources: Path | str | Sequence[Path | str], imgsz: int, batch_size: int,
                hyp: Mapping[str, float] | None, samples: int = 200, nc: int = 0, cache: str = "none",
                cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """The per-stage cost of our augmented training sample (cache as given: ``ram`` decodes before the timing)."""
    from yolo_exp.data.dataset import YoloDataset

    dataset = YoloDataset(sources, imgsz=imgsz, batch_size=batch_size, augment=True, hyp=hyp, nc=nc, cache=cache,
                          cache_dir=cache_dir)
    return stage_rows(time_stages(dataset, samples, batch_size), samples)
