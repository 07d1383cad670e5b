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
from yolo_exp.files.limits import not_regular, short

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
    """Decoded images as ``<cache_dir>/images/<hash of path, size, mtime, variant>.npy``, memory-mapped when read.

    ``prepare`` turns a decoded image into what is stored (the dataset's resize to its long side, so a read costs no
    decode and no resize, and a mosaic reads only the rows of a tile it shows); ``variant`` names it in the key.
    An entry is trusted only when its header parses and the file holds exactly the bytes the header promises (a
    kill or a full disk can leave a truncated one): bad entries are rebuilt from their image when the cache is
    set up and again when reading one fails, so a damaged cache never fails later runs."""

    def __init__(self, root: Path, prepare: Callable[[np.ndarray], np.ndarray] | None = None, variant: str = ""):
        self.root = Path(root) / "images"
        self.prepare, self.variant = prepare, variant

    def path_for(self, im_file: str) -> Path:
        sig = file_signature([im_file])[0]
        key = repr(sig) + (f"/{self.variant}" if self.variant else "")
        return self.root / (hashlib.sha1(key.encode()).hexdigest() + ".npy")

    def _write(self, im_file: str, npy: Path) -> np.ndarray:
        im = read_image(im_file)
        if self.prepare is not None:
            im = self.prepare(im)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, im, allow_pickle=False)
            os.replace(tmp, npy)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return im

    def _ensure(self, item: tuple[str, Path]) -> bool:
        """Write the entry unless an intact one is there; True when a damaged one was replaced."""
        im_file, npy = item
        if npy.is_file() and intact(npy):
            return False
        damaged = npy.exists()
        self._write(im_file, npy)
        return damaged

    def build(self, im_files: Sequence[str], threads: int | None = None) -> list[Path]:
        """Write the missing and damaged arrays; return one path per image."""
        self.root.mkdir(parents=True, exist_ok=True)
        paths = [self.path_for(f) for f in im_files]
        with ThreadPool(threads or os.cpu_count() or 1) as pool:
            rebuilt = sum(pool.map(self._ensure, list(zip(im_files, paths))))
        if rebuilt:
            LOGGER.warning("disk image cache %s: %d damaged entries rebuilt", self.root, rebuilt)
        return paths

    def read(self, im_file: str, npy: Path) -> np.ndarray:
        """The cached array of ``im_file``; an entry that does not load is rebuilt from the image (with a
        warning), and when that fails too the error names both files."""
        reason = "its size does not match its header"  # checked first: numpy allocates what a header claims
        try:
            if intact(npy):  # a read-only map: only the pages a sample reads are read
                return np.load(npy, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            reason = f"{type(exc).__name__}: {short(str(exc), 80)}"
        LOGGER.warning("disk image cache entry %s for %s is damaged (%s); rebuilding it", npy, im_file, reason)
        try:
            return self._write(im_file, npy)
        except (OSError, ValueError) as exc:
            raise ValueError(f"disk image cache entry {npy} for {im_file} is damaged ({reason}) and cannot be "
                             f"rebuilt: {short(str(exc), 120)}") from None


def intact(npy: Path) -> bool:
    """Whether a ``.npy`` file's header parses and its size is exactly header + data (read: ~128 bytes)."""
    try:
        if not_regular(os.stat(npy).st_mode):  # opening a FIFO would wait
            return False
        with open(npy, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in header:  # np.save writes 1.0 (2.0 for huge headers)
                return False
            shape, _, dtype = header[version](f)
            expected = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return not dtype.hasobject and os.path.getsize(npy) == expected
    except (OSError, ValueError, EOFError):
        return False
