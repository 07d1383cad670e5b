"""Bounds on what an input file may make us read, hold or print.

A small hostile or broken file (a FIFO named like an image, a 16 MB label line, a YAML alias bomb, a zip bomb
checkpoint, an image header claiming a gigapixel) must fail in one line naming it, never hang a scan or fill
memory, a log or a cache. Every such bound lives here, with the one helper for bounded messages (``short``).
"""
from __future__ import annotations

import contextlib
import os
import reprlib
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

MAX_LABEL_BYTES = 1 << 20  # a YOLO label file: rows of numbers, a few KB; COCO's largest polygon files ~100 KB
MAX_YAML_BYTES = 4 << 20  # a data.yaml or a run folder's record
MAX_RECORD_BYTES = 256 << 20  # a run folder's summary.json or results.csv (10,000 epochs of results are ~3 MB)
MAX_YAML_VALUES = 100_000  # values of a YAML document once its aliases are expanded (a data.yaml has ~100)
MAX_CLASSES = 100_000  # nc (LVIS has 1,203; ImageNet-21k 21,841): beyond that the head alone is gigabytes
MAX_PARAMS = 1_000_000_000  # of an architecture before it is built (YOLOv5x6: 141 M)
MAX_REPEATS = 1_000  # of one layer of an architecture (YOLOv5x: 12)
MAX_INPUT_CHANNELS = 64  # of an architecture's input (ch: 3 for RGB; 1 grey, 4+ multispectral)
MAX_UNZIP_RATIO = 10  # torch.save stores tensors uncompressed: a .pt declaring 10x its size is a zip bomb
DEFAULT_MAX_PIXELS = 1 << 28  # 268 M pixels (16384 x 16384), 805 MB decoded; YOLO_EXP_MAX_PIXELS changes it
MESSAGE_CHARS = 200  # of any message kept in a cache or printed about one file

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFLNK: "a symbolic link"}


def _bounded_repr() -> reprlib.Repr:
    r = reprlib.Repr()  # Python 3.11 takes no keyword arguments
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple, r.maxset = 3, 8, 8, 8, 8
    r.maxstring, r.maxother, r.maxlong = 60, 60, 40
    return r


_REPR = _bounded_repr()


def short(value: Any, limit: int = MESSAGE_CHARS) -> str:
    """``value`` as bounded text: a string over ``limit`` characters keeps its start and its end (where a reason
    usually is) and says how long it was; anything else is a repr bounded in depth and width first (an
    alias-bombed list never becomes one huge string)."""
    text = value if isinstance(value, str) else _REPR.repr(value)
    if len(text) <= limit:
        return text
    tail = limit // 3
    return f"{text[:limit - tail]} [...{len(text):,} characters...] {text[-tail:]}"


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` for quoting a value from a file in a message: a long string shows its start and its length."""
    if isinstance(value, str):
        return f"{value[:limit]!r}... ({len(value):,} characters)" if len(value) > limit else short(repr(value), limit)
    return short(value, limit)


def not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` must not be read as data, or None for a regular file."""
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


@contextlib.contextmanager
def _open_regular(path: str | os.PathLike, limit: int | None, what: str) -> Iterator[tuple[BinaryIO, int]]:
    """(a binary file, its size) for a regular file of at most ``limit`` bytes; ValueError for a FIFO, socket,
    device or directory (opening a FIFO would wait for a writer forever) and for a file over the limit. Opened
    non-blocking and checked again on the open descriptor, so a FIFO swapped in after the first check cannot block
    either."""
    kind = not_regular(os.stat(path).st_mode)
    if kind is not None:
        raise ValueError(f"{what} is {kind}, not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        kind = not_regular(st.st_mode)
        if kind is not None:
            raise ValueError(f"{what} is {kind}, not a regular file")
        if limit is not None and st.st_size > limit:
            raise ValueError(f"{what} is {st.st_size:,} bytes, over the limit of {limit:,}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            yield f, st.st_size
    finally:
        os.close(fd)


def read_regular(path: str | os.PathLike, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of a regular file, at most ``limit`` (see ``_open_regular`` for what is refused)."""
    with _open_regular(path, limit, what) as (f, size):
        # the size first: read(limit + 1) allocates the whole limit (GBs for images) at every call
        data = f.read(size + 1)
        if len(data) > size:  # it grew since the fstat: the rest, up to the limit
            data += f.read() if limit is None else f.read(max(limit + 1 - len(data), 0))
    if limit is not None and len(data) > limit:  # it grew while we read
        raise ValueError(f"{what} is over the limit of {limit:,} bytes")
    return data


def read_ends(path: str | os.PathLike, head: int, tail: int, limit: int | None = None,
              what: str = "file") -> tuple[bytes, bytes, int]:
    """(the first ``head`` bytes, the last ``tail``, the size) of a regular file (refused as ``read_regular``
    refuses it): a header check without reading a whole image."""
    with _open_regular(path, limit, what) as (f, size):
        first = f.read(head)
        if size <= head:
            return first, first[-tail:] if tail else b"", size
        f.seek(max(size - tail, 0))
        return first, f.read(tail), size


def read_text(path: str | os.PathLike, limit: int, what: str = "file") -> str:
    """``read_regular`` decoded as UTF-8 (a BOM allowed), with the file's own name in a decoding error."""
    data = read_regular(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 text (byte {exc.start})") from None


def expanded_values(doc: Any, limit: int = MAX_YAML_VALUES) -> int:
    """How many values a loaded YAML document holds with its aliases expanded (what every later copy, repr or
    OmegaConf conversion pays); ValueError beyond ``limit`` or for a document that contains itself. Counted per
    distinct object, so a billion-laughs document costs as little to check as it took to load."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (list, Mapping)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("the YAML document contains itself (a recursive alias)")
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, Mapping) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise ValueError(f"the YAML document expands to more than {limit:,} values (aliases of aliases)")
        active.discard(key)
        sizes[key] = total
        return total

    return size(doc)


def load_yaml(path: str | os.PathLike, what: str = "file", limit: int = MAX_YAML_BYTES) -> Any:
    """``yaml.safe_load`` of a file from outside, bounded: its size, then its size with aliases expanded."""
    import yaml

    try:
        doc = yaml.safe_load(read_text(path, limit, what))
        expanded_values(doc)
    except RecursionError:  # PyYAML composes, and we count, recursively
        raise ValueError(f"{what}: the YAML document is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(exc if str(exc).startswith(what) else f"{what}: {exc}") from None
    return doc


def check_classes(nc: Any, what: str) -> int:
    """``nc`` as a count of classes in 1..MAX_CLASSES; ValueError naming ``what`` otherwise."""
    if isinstance(nc, bool) or not isinstance(nc, int) or not 1 <= nc <= MAX_CLASSES:
        raise ValueError(f"{what}: nc={short_repr(nc)} is not a number of classes (1 to {MAX_CLASSES:,})")
    return nc


def max_pixels() -> int:
    """The largest image (width x height) decoded: ``$YOLO_EXP_MAX_PIXELS``, else ``DEFAULT_MAX_PIXELS``."""
    value = os.environ.get("YOLO_EXP_MAX_PIXELS", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_PIXELS


def max_image_bytes() -> int:
    """The largest image file read: 8 bytes (16-bit RGBA, uncompressed) per allowed pixel, plus room for metadata;
    a sparse file claiming terabytes is refused by its size before it is read."""
    return 8 * max_pixels() + (64 << 20)


def check_zip_sizes(path: str | Path) -> None:
    """Refuse an archive (a .pt is a zip) whose members declare far more bytes than the file holds, before
    anything is inflated."""
    import zipfile

    size = Path(path).stat().st_size
    with zipfile.ZipFile(path) as z:
        declared = sum(i.file_size for i in z.infolist())
    if declared > MAX_UNZIP_RATIO * size + (64 << 20):
        raise ValueError(f"{path}: declares {declared:,} bytes uncompressed in a {size:,}-byte file (a zip bomb? "
                         "PyTorch stores tensors uncompressed)")
