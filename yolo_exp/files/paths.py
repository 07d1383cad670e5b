"""Where things are: the config tree, derived files (label and image caches, the generated demo dataset), and the
one way a name read from a file becomes part of a path (``safe_name``)."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

# The config tree ships inside the package (the checkout's conf/ links to it), so an installed copy finds it.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # yolo_exp/conf


def default_cache_dir() -> Path:
    """Where derived files live: ``$YOLO_EXP_CACHE_DIR``, else ``$XDG_CACHE_HOME/yolo_exp``, else ``~/.cache/yolo_exp``."""
    if os.environ.get("YOLO_EXP_CACHE_DIR"):
        return Path(os.environ["YOLO_EXP_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "yolo_exp"
    return Path.home() / ".cache" / "yolo_exp"


def cache_dir_of(value: str | None) -> Path | None:
    """A ``cache_dir`` config value as a folder (``~`` expanded); None means the default."""
    return Path(value).expanduser() if value else None


# A path component's limit on common filesystems (ext4, APFS, NTFS count 255 bytes or UTF-16 units).
MAX_NAME_BYTES = 255
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')  # separators, NUL and controls, and what Windows refuses
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def safe_name(name: object, suffix: str = "") -> str:
    """One path component for a name that comes from a file (a class name, an image stem, a stream URL, a
    checkpoint's name), plus ``suffix`` (an extension, a counter): never a separator, ``.``/``..``, an absolute
    path, NUL or a control character, never hidden, never empty, and at most 255 bytes with the suffix.

    Such names are data, and data must not choose where we write: ``../../x`` becomes ``__.._x``, inside the
    folder it is joined to. A name cut to fit ends with a hash of the whole, so distinct long names stay distinct.
    Names that differ only in case are not made distinct here; ``UniqueNames`` does that where names share a folder.
    """
    s = str(name).encode("utf-8", "backslashreplace").decode()  # lone surrogates (undecodable file names) spelt out
    s = _UNSAFE.sub("_", s).strip().rstrip(". ")
    s = re.sub(r"^\.+", lambda m: "_" * len(m.group()), s) or "_"
    if s.split(".")[0].lower() in _RESERVED:  # Windows' device names, with any extension
        s = "_" + s
    room = MAX_NAME_BYTES - len(suffix.encode())
    if len(s.encode()) > room:
        tag = "~" + hashlib.sha1(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:10]  # distinct stay so
        s = s.encode()[: room - len(tag)].decode("utf-8", "ignore") + tag
    return s + suffix


class UniqueNames:
    """Safe, distinct components for many keys in one folder: the first key of a name keeps it, later ones get
    ``_1``, ``_2``...; names are compared case-folded, so two never meet on a case-insensitive filesystem
    (macOS, Windows), wherever the folder is later copied."""

    def __init__(self) -> None:
        self._given: dict[object, str] = {}
        self._taken: set[str] = set()

    def __call__(self, key: object, name: object, suffix: str = "") -> str:
        """The component for ``key`` (the same one on every call), made from ``name`` + ``suffix``."""
        if key not in self._given:
            out, k = safe_name(name, suffix), 0
            while out.casefold() in self._taken:
                k += 1
                out = safe_name(name, f"_{k}{suffix}")
            self._taken.add(out.casefold())
            self._given[key] = out
        return self._given[key]
