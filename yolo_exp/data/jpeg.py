"""What a JPEG's marker segments say without decoding it: the frame size, the EXIF orientation, and whether the
walk reaches the image data (a scan) cleanly.

The label scan reads every image; walking the markers takes microseconds where decoding a 640 px photo takes 2-3 ms.
Anything unexpected returns None, and the caller decodes the image instead, so a header this walk does not
understand is judged by the decoder, never trusted.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

# frame headers (SOF0-SOF15 but DHT, JPG and DAC, which share the range); markers without a length field
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
APP1, SOS = 0xE1, 0xDA
EXIF = b"Exif\x00\x00"
ORIENTATION = 0x0112


class JpegHeader(NamedTuple):
    width: int
    height: int
    orientation: int  # EXIF orientation 1-8 (1: none); 5-8 swap width and height when decoded

    @property
    def decoded_size(self) -> tuple[int, int]:
        """(width, height) of the decoded image: OpenCV applies the EXIF orientation."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def _segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each segment up to the first scan (SOS) or frame header; stops at
    anything unexpected (the callers then see no SOS or no frame)."""
    if data[:2] != b"\xff\xd8":
        return
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in JPEG_STANDALONE:
            i += 2
            continue
        if marker in (0xD8, 0xD9):  # a second start, or the end before any scan
            return
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if end > n or end < i + 4:
            return
        yield marker, i + 4, end
        if marker == SOS:
            return
        i = end


def _frame_size(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    if end - start < 5:
        return None
    h, w = int.from_bytes(data[start + 1:start + 3], "big"), int.from_bytes(data[start + 3:start + 5], "big")
    return (w, h) if w and h else None  # a height of 0 comes later (DNL): for the decoder to judge


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG's first frame header (what libjpeg decodes), None when the walk meets anything
    unexpected first."""
    for marker, start, end in _segments(data):
        if marker in JPEG_SOF:
            return _frame_size(data, start, end)
        if marker == SOS:
            return None
    return None


def exif_orientation(payload: bytes) -> int | None:
    """IFD0's orientation tag of an APP1 Exif payload (1 when absent), None when the TIFF structure is odd."""
    if not payload.startswith(EXIF) or len(payload) < len(EXIF) + 8:
        return None
    tiff = payload[len(EXIF):]
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[ifd:ifd + 2], order)
    if ifd + 2 + 12 * count > len(tiff):
        return None
    for k in range(count):
        e = ifd + 2 + 12 * k
        if int.from_bytes(tiff[e:e + 2], order) == ORIENTATION:
            value = int.from_bytes(tiff[e + 8:e + 10], order)
            kind = int.from_bytes(tiff[e + 2:e + 4], order)
            return value if kind == 3 and 1 <= value <= 8 else None
    return 1


def jpeg_header(data: bytes) -> JpegHeader | None:
    """The frame size and EXIF orientation of a JPEG whose markers walk cleanly from the start to its first scan,
    with exactly one frame header before it and at most one Exif segment; else None (decode it to judge it)."""
    size, orientation, exifs = None, 1, 0
    for marker, start, end in _segments(data):
        if marker in JPEG_SOF:
            if size is not None:
                return None
            size = _frame_size(data, start, end)
            if size is None:
                return None
        elif marker == APP1 and data[start:start + 6] == EXIF:
            exifs += 1
            got = exif_orientation(bytes(data[start:end]))
            if got is None or exifs > 1:
                return None
            orientation = got
        elif marker == SOS:
            return JpegHeader(*size, orientation) if size is not None else None
    return None
