"""Files that are either the old version or the new one, never half of one: every writer of the project uses this.

The data goes to a temporary ``.NAME.*.yolo_exp-tmp`` beside the target, is flushed and fsynced, then renamed over the
target (and the folder fsynced), so a kill at any moment leaves the previous file whole; the temporary file a kill
can leave is removed by ``remove_stale_temps`` at the next start. A failed write names the file and the cause
(torch reports a full disk as ``unexpected pos ...``, which says neither).
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".yolo_exp-tmp"  # our own temporary files, and only those, are removed as stale


def write_error(path: Path, exc: Exception) -> OSError:
    free = shutil.disk_usage(path.parent).free
    if getattr(exc, "errno", None) == errno.ENOSPC or free < 2**20:
        return OSError(errno.ENOSPC, f"cannot be written: no space left on the device ({free / 2**20:.1f} MiB free)",
                       str(path))
    reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return OSError(getattr(exc, "errno", None) or errno.EIO, f"cannot be written ({reason[:160]})", str(path))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then put it in place of ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise write_error(path, exc) from exc
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def remove_stale_temps(*folders: str | Path) -> list[Path]:
    """Delete the temporary files (``.NAME.*.yolo_exp-tmp``) that a kill during one of our writes leaves behind;
    anyone else's files (a user's ``.notes.tmp``) are left alone. Called by the folder's owner (yolo_exp.owner), so
    no other process is writing there."""
    stale = [p for d in folders for p in Path(d).glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
