"""The JPEG marker walk gives what decoding gives: the decoded size (EXIF orientation applied, as OpenCV applies
it) on real, progressive and rotated images, and None (decode it instead) for anything it does not understand."""
from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from yolo_exp.data.jpeg import jpeg_header, jpeg_size


def _jpeg(w: int, h: int, progressive: int = 0) -> bytes:
    im = np.random.default_rng(w * h).integers(0, 255, (h, w, 3), np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_PROGRESSIVE, progressive]
    return cv2.imencode(".jpg", im, params)[1].tobytes()


def with_exif(data: bytes, orientation: int, order: str = "MM", kind: int = 3) -> bytes:
    """``data`` with an APP1 Exif segment whose IFD0 holds one orientation entry, right after the SOI."""
    e = ">" if order == "MM" else "<"
    tiff = order.encode() + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 1)
    tiff += struct.pack(e + "HHIHH", 0x0112, kind, 1, orientation, 0) + struct.pack(e + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _decoded_size(data: bytes) -> tuple[int, int]:
    h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    return w, h


def test_decoded_size_is_opencvs_on_real_progressive_and_rotated_images():
    datas = [_jpeg(37, 91), _jpeg(200, 13, progressive=1)]
    datas += [with_exif(_jpeg(64, 40), o, order) for o in range(1, 9) for order in ("MM", "II")]
    for name in ("coco128", "bccd"):
        datas += [p.read_bytes() for p in sorted(shared_path("datasets", name, "images", "train").glob("*.jpg"))[:40]]
    checked = 0
    for d in datas:
        header = jpeg_header(d)
        if header is not None:
            assert header.decoded_size == _decoded_size(d)
            assert (header.width, header.height) == jpeg_size(d) == Image.open(io.BytesIO(d)).size
            checked += 1
    assert checked >= len(datas) - 3  # nearly every real image is judged by its header
    assert jpeg_header(with_exif(_jpeg(64, 40), 6)).decoded_size == (40, 64)


@pytest.mark.parametrize("broken", [
    lambda d: d[:4],  # cut inside the first segment
    lambda d: b"\xff\xd8" + b"\x00" * 20,  # no marker after the start
    lambda d: d[:d.index(b"\xff\xda")],  # no scan
    lambda d: with_exif(d, 9),  # no such orientation
    lambda d: with_exif(d, 6, kind=4),  # orientation not a SHORT
    lambda d: with_exif(with_exif(d, 1), 6),  # two Exif segments: which one a decoder reads is its business
    lambda d: d[:2] + d[2:].replace(b"\xff\xc0", b"\xff\xfe", 1),  # the frame header gone (a comment now)
])
def test_anything_unexpected_is_left_to_the_decoder(broken):
    assert jpeg_header(broken(_jpeg(64, 40))) is None


def test_other_formats_are_not_jpegs():
    png = cv2.imencode(".png", np.zeros((12, 34, 3), np.uint8))[1].tobytes()
    assert jpeg_header(png) is None and jpeg_size(png) is None
