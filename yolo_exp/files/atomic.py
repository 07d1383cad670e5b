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
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (os.umask sets it to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _mode_for(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` leaves: an existing file's own, else 0666 less the umask (mkstemp's
    temporary file is 0600, which would hide a run from colleagues on a shared machine)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: it replaces ``path`` only when the block ends without an error,
    so a long writer (predictions streamed over a whole validation) can be stopped at any point. Errors pass
    through as they are: the block may fail for reasons of its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _mode_for(path))
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then put it in place of ``path``."""
    try:
        with atomic_open(path) as f:
            write(f)
    except Exception as exc:
        raise write_error(Path(path), exc) from exc
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def remove_stale_temps(*folders: str | Path) -> list[Path]:
    """Delete the temporary files (``.NAME.*.yolo_exp-tmp``) that a kill during one of our writes leaves behind;
    anyone else's files (a user's ``.notes.tmp``) are left alone. Called by the folder's owner (yolo_exp.files.owner), so
    no other process is writing there."""
    stale = [p for d in folders for p in Path(d).glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
