"""Keeping decoded images around between epochs: in RAM (resized, after a memory check) or as ``.npy`` on disk.

Disk copies go under the user cache dir, never next to the images, so read-only and shared datasets work.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from multiprocessing.pool import ThreadPool
from pathlib import Path

import numpy as np

from yolo_exp.data.files import file_signature, read_image

LOGGER = logging.getLogger(__name__)
CACHE_MODES = ("none", "ram", "disk")


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), without psutil."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def ram_needed(load: Callable[[int], np.ndarray], n: int, sample: int = 30, margin: float = 0.1, seed: int = 0) -> int:
    """Estimate bytes for ``n`` loaded images from a random sample, plus a safety margin."""
    if n == 0:
        return 0
    idx = random.Random(seed).sample(range(n), k=min(sample, n))
    mean = sum(load(i).nbytes for i in idx) / len(idx)
    return int(mean * n * (1 + margin))


def fill_ram(load: Callable[[int], np.ndarray], n: int, threads: int | None = None) -> list[np.ndarray]:
    """Load every image once, with threads (cv2 releases the GIL while decoding)."""
    with ThreadPool(threads or os.cpu_count() or 1) as pool:
        return pool.map(load, range(n))


class DiskImageCache:
    """Decoded original images as ``<cache_dir>/images/<hash of path, size, mtime>.npy``."""

    def __init__(self, root: Path):
        self.root = Path(root) / "images"

    def path_for(self, im_file: str) -> Path:
        sig = file_signature([im_file])[0]
        return self.root / (hashlib.sha1(repr(sig).encode()).hexdigest() + ".npy")

    def _ensure(self, item: tuple[str, Path]) -> None:
        im_file, npy = item
        if npy.is_file():
            return
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, read_image(im_file), allow_pickle=False)
        os.replace(tmp, npy)

    def build(self, im_files: Sequence[str], threads: int | None = None) -> list[Path]:
        """Write the missing arrays; return one path per image."""
        self.root.mkdir(parents=True, exist_ok=True)
        paths = [self.path_for(f) for f in im_files]
        with ThreadPool(threads or os.cpu_count() or 1) as pool:
            pool.map(self._ensure, list(zip(im_files, paths)))
        return paths

    @staticmethod
    def read(npy: Path) -> np.ndarray:
        return np.load(npy, allow_pickle=False)
