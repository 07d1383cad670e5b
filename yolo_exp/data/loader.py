"""Building reproducible, fast DataLoaders around ``YoloDataset``.

Reproducibility: the sampler's order comes from ``epoch_seed(seed, epoch)``, each worker reseeds the dataset's own generator from
its torch-assigned seed (itself drawn from a generator seeded with ``seed``), so the same seed yields the same batches
with 0 or N workers. Workers persist across epochs; per-epoch switches travel through the sampler (see dataset.py).
"""
from __future__ import annotations

import math
import os
import random
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, get_worker_info

from yolo_exp.data.dataset import YoloDataset, collate
from yolo_exp.data.processes import worker_context

GENERATOR_BASE_SEED = 6148914691236517205


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for one epoch's stream, mixed from (seed, epoch) so that no two seeds share an epoch's order
    (with ``seed + epoch``, seed 1 replays seed 0's orders one epoch later)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)


class EpochSampler(Sampler):
    """Yields ``(index, mosaic, epoch)``, mosaic read from the main-process dataset at the start of every epoch.

    Order: sequential, or a permutation seeded by ``epoch_seed(seed, epoch)`` (the epoch advances by itself after each
    pass and can be pinned with ``set_epoch``); with several ranks each takes every world_size-th item of that order,
    padded by wrapping so that all ranks run the same number of batches (DistributedSampler's split).
    ``dataset.indices`` (image weights) remaps it.
    """

    def __init__(self, dataset: YoloDataset, shuffle: bool, seed: int, rank: int = -1, world_size: int = 1):
        self.dataset, self.shuffle, self.seed, self.epoch = dataset, shuffle, seed, 0
        self.rank, self.world_size = max(rank, 0), max(world_size, 1)
        self.skip = 0  # items to drop from the start of the next pass (resuming in the middle of an epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.world_size)

    def _order(self) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch)))
            order = order.tolist()
        else:
            order = list(range(n))
        if self.world_size == 1:
            return order
        total = len(self) * self.world_size
        padded = (order * math.ceil(total / n))[:total]
        return padded[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[tuple[int, bool, int]]:
        epoch, order, mosaic, remap = self.epoch, self._order(), bool(self.dataset.mosaic), self.dataset.indices
        order, self.skip = order[self.skip:], 0
        self.set_epoch(self.epoch + 1)
        for i in order:
            yield (int(remap[i]) if remap is not None else i), mosaic, epoch


def seed_worker(worker_id: int) -> None:
    """Per-worker seeding of the dataset's generator (and the global ones, for any library code) from torch's seed."""
    info = get_worker_info()
    seed = info.seed % 2**32
    random.seed(seed)
    np.random.seed(seed)
    if hasattr(info.dataset, "rng"):
        info.dataset.rng.seed(seed)
    cv2.setNumThreads(0)  # workers already parallelise; OpenCV threads would oversubscribe the cores
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the workers too: the trainer decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # ending a worker must work under a SIGTERM-ignoring parent


PREFETCH_BYTES = 2**31  # queued batches live in shared memory (/dev/shm): containers often allow little


def prefetch_factor(workers: int, batch_bytes: int) -> int:
    """Batches queued per worker: 4 (about 6% faster than 2 on a 2-core CPU, as a whole epoch of a small dataset
    then loads while the last one validates), but torch's default 2 when 4 would queue over 2 GiB (e.g. 16 workers
    of 640 px batches of 64: 5 GiB)."""
    return 4 if 4 * workers * batch_bytes <= PREFETCH_BYTES else 2


def create_dataloader(
    sources: Path | str | Sequence[Path | str], imgsz: int, batch_size: int, stride: int, nc: int,
    hyp: Mapping[str, float] | None = None, augment: bool = False, rect: bool = False, pad: float = 0.0,
    workers: int = 8, shuffle: bool = False, seed: int = 0, cache: str = "none", single_cls: bool = False,
    rank: int = -1, world_size: int = 1, cache_dir: Path | None = None, prefix: str = "", image_weights: bool = False,
    dataset_class: Callable[..., YoloDataset] | None = None, gpu_augment: bool = False,
) -> tuple[DataLoader, YoloDataset]:
    """(loader, dataset); batches are ``(imgs uint8 (B,3,H,W) RGB, targets (N,6), paths, shapes)``; with
    ``gpu_augment`` imgs is a ``DeviceBatch`` that ``render(device)`` makes into those images.

    ``dataset_class`` (the data group's ``dataset``) builds the dataset: YoloDataset or a subclass of it.
    """
    if rect and shuffle:
        shuffle = False  # rect batches are built from the aspect-ratio order; shuffling would break them
    dataset = (dataset_class or YoloDataset)(
        sources, imgsz=imgsz, batch_size=batch_size, augment=augment, hyp=hyp, rect=rect, stride=stride, pad=pad,
        nc=nc, single_cls=single_cls, cache=cache, cache_dir=cache_dir, prefix=prefix, seed=seed,
        **({"gpu_augment": True} if gpu_augment else {}),  # only then: a user's dataset class may not take it
    )
    if not isinstance(dataset, YoloDataset):
        raise TypeError(f"data.dataset._target_ built a {type(dataset).__name__}: it must be "
                        "yolo_exp.data.dataset.YoloDataset or a subclass of it (the loader, mosaic switch, caches "
                        "and image weights rely on its interface)")
    batch_size = min(batch_size, len(dataset))
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))  # ranks sharing this machine's cores
    nw = min((os.cpu_count() or 1) // max(per_node, 1), batch_size if batch_size > 1 else 0, workers)
    sampler = EpochSampler(dataset, shuffle, seed, rank, world_size)
    if image_weights:
        dataset.indices = np.arange(len(dataset))
    generator = torch.Generator().manual_seed(GENERATOR_BASE_SEED + seed + max(rank, 0))
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=nw, pin_memory=torch.cuda.is_available(),
        collate_fn=getattr(dataset, "collate_fn", None) or collate, worker_init_fn=seed_worker, generator=generator,
        persistent_workers=nw > 0, multiprocessing_context=worker_context() if nw > 0 else None,
        prefetch_factor=prefetch_factor(nw, batch_size * 3 * imgsz * imgsz) if nw > 0 else None,
    )
    return loader, dataset
