"""Persisting verification results so a dataset is scanned once, not at every run.

Stored as an ``.npz`` of plain arrays (no pickle) keyed by a hash of every image and label file's path, size and mtime,
the verification settings and a format version; anything that does not match or does not load is rebuilt.
Always written in the cache dir, never next to the labels as YOLOv5 does: datasets sit on shared, read-only or
downloaded storage, and a folder of data should stay exactly as its owner left it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yolo_exp.data.files import file_signature, img2label_path
from yolo_exp.data.ragged import stacked
from yolo_exp.data.verify import STATUSES, ImageRecord
from yolo_exp.files.atomic import atomic_write
from yolo_exp.files.limits import check_zip_sizes
from yolo_exp.files.paths import default_cache_dir

LOGGER = logging.getLogger(__name__)
CACHE_VERSION = "yolo_exp-labels-4"  # bumped when verification rules change


def cache_key(im_files: Sequence[str], nc: int, tol: float) -> str:
    sig = file_signature(list(im_files) + [img2label_path(f) for f in im_files])
    h = hashlib.sha256(json.dumps([CACHE_VERSION, nc, tol, sig]).encode())
    return h.hexdigest()


def cache_path(sources: Sequence[Path], cache_dir: Path | None = None) -> Path:
    """``<cache dir>/label_caches/<hash of the sources' absolute paths>.cache``."""
    ident = hashlib.sha256("\n".join(str(Path(s).absolute()) for s in sources).encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "label_caches" / f"{ident}.cache"


def save(path: Path, key: str, records: Sequence[ImageRecord]) -> bool:
    """Write atomically; return False (with a warning) when it cannot be written."""
    labels = [r.labels for r in records]
    segs = [s for r in records for s in r.segments]
    arrays = {
        "key": np.array(key),
        "im_files": np.array([r.im_file for r in records], dtype=str),
        "status": np.array([STATUSES.index(r.status) for r in records], np.int8),
        "shapes": np.array([r.shape for r in records], np.int64).reshape(-1, 2),
        "n_labels": np.array([len(x) for x in labels], np.int64),
        "labels": np.concatenate(labels).astype(np.float32) if labels else np.zeros((0, 5), np.float32),
        "n_segs": np.array([len(r.segments) for r in records], np.int64),
        "seg_lens": np.array([len(s) for s in segs], np.int64),
        "seg_points": np.concatenate(segs).astype(np.float32) if segs else np.zeros((0, 2), np.float32),
        "msgs": np.array([json.dumps(r.msgs) for r in records], dtype=str),
    }
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return True
    except OSError as e:
        LOGGER.warning("label cache %s not written: %s", path, e)
        return False


def _split(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(counts)[:-1]) if len(counts) else []


def load(path: Path, key: str) -> list[ImageRecord] | None:
    """The cached records, or None (with one info line) when absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        check_zip_sizes(path)  # an .npz is a zip: a damaged or planted one must not inflate without bound
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                LOGGER.info("label cache %s is stale; rescanning", path)
                return None
            labels = _split(z["labels"], z["n_labels"])
            segs = _split(z["seg_points"], z["seg_lens"])
            ends = np.cumsum(z["n_segs"]).tolist()  # plain Python values below: ~10x faster for 100k images
            groups = [segs[a - n:a] for a, n in zip(ends, z["n_segs"].tolist())]
            return [
                ImageRecord(f, STATUSES[s], (sh[0], sh[1]), lb, g, [] if m == "[]" else json.loads(m))
                for f, s, sh, lb, g, m in zip(z["im_files"].tolist(), z["status"].tolist(), z["shapes"].tolist(),
                                              labels, groups, z["msgs"].tolist())
            ]
    except Exception as e:  # noqa: BLE001 - a broken cache is never fatal
        LOGGER.info("label cache %s unreadable (%s); rescanning", path, type(e).__name__)
        return None


def data_fingerprint(im_files: Sequence[str], labels: Sequence[np.ndarray]) -> str:
    """A short hash of which images a split has (by name) and of every label: two runs with the same fingerprint
    trained on the same data, wherever it was stored. Cheap: the labels are in memory after the cache load."""
    flat, counts = stacked(labels, 5)
    blob, ends = np.ascontiguousarray(flat, np.float32).tobytes(), np.cumsum(counts) * 20  # 5 float32 a row
    starts = ends - counts * 20
    h = hashlib.sha256()  # one update of the whole sequence: the same digest as an update per name and label
    h.update(b"".join(part for f, a, b in zip(im_files, starts.tolist(), ends.tolist())
                      for part in (os.path.basename(f).encode(), blob[a:b])))
    return h.hexdigest()[:16]
