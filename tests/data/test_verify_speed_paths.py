"""The scan's fast paths give what the slow ones gave: JPEG sizes from the frame header, the first of each
distinct label row."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yolo_exp.data.files import header_size, jpeg_size, read_image
from yolo_exp.data.verify import first_rows

SHARED = Path("/work/shared/datasets")


def _jpeg(w: int, h: int, progressive: int = 0) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_PROGRESSIVE, progressive]
    return cv2.imencode(".jpg", np.full((h, w, 3), 90, np.uint8), params)[1].tobytes()


def test_jpeg_size_is_pillows_on_real_and_progressive_images():
    datas = [_jpeg(37, 91), _jpeg(200, 13, progressive=1)]
    datas += [p.read_bytes() for p in sorted(SHARED.glob("coco128/images/train/*.jpg"))[:20]]
    for d in datas:
        assert jpeg_size(d) == Image.open(io.BytesIO(d)).size


def test_jpeg_size_leaves_other_and_broken_data_to_pillow():
    png = cv2.imencode(".png", np.zeros((12, 34, 3), np.uint8))[1].tobytes()
    assert jpeg_size(png) is None and header_size(png) == (34, 12)
    d = _jpeg(40, 30)
    assert jpeg_size(d[:4]) is None and jpeg_size(b"\xff\xd8" + b"\x00" * 20) is None


def test_a_jpeg_claiming_a_gigapixel_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_EXP_MAX_PIXELS", str(10_000))
    d = bytearray(_jpeg(40, 30))
    i = next(i for i in range(2, len(d) - 1) if d[i] == 0xFF and d[i + 1] == 0xC0)  # baseline frame header
    d[i + 5:i + 9] = (30_000).to_bytes(2, "big") + (40_000).to_bytes(2, "big")
    (tmp_path / "big.jpg").write_bytes(bytes(d))
    with pytest.raises(ValueError, match="claims 40000x30000"):
        read_image(tmp_path / "big.jpg")


def test_first_rows_is_np_unique_first_indices_sorted():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 3, (int(rng.integers(0, 8)), 5)).astype(np.float32)
        want = np.sort(np.unique(a, axis=0, return_index=True)[1]) if len(a) else []
        assert first_rows(a) == list(want)
    assert first_rows(np.array([[0.0, 1], [-0.0, 1]], np.float32)) == [0]
