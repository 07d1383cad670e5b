from __future__ import annotations

import io
import os

import cv2
import numpy as np
import pytest

from yolo_exp.data.files import img2label_path, list_images, read_image, resize_long_side

from .conftest import write_pair


def test_label_path_rule_uses_last_images_folder():
    assert img2label_path("/d/images/x/images/train/a.b.JPG") == "/d/images/x/labels/train/a.b.txt"
    assert img2label_path("/d/imgs/a.png") == "/d/imgs/a.txt"


def test_list_images_recursive_sorted_and_txt_lists(tmp_path):
    write_pair(tmp_path, "b", None)
    write_pair(tmp_path, "a", None, ext=".png")
    (tmp_path / "images" / "train" / "sub").mkdir()
    write_pair(tmp_path, "c", None, split="train/sub")
    (tmp_path / "images" / "train" / "notes.md").write_text("x")
    files = list_images(tmp_path / "images" / "train")
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.png", "b.jpg", "c.jpg"]
    lst = tmp_path / "train.txt"
    lst.write_text("./images/train/b.jpg\nimages/train/a.png\n\n")
    assert list_images(lst) == files[:2]
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(tmp_path / "nope")


def test_exif_rotation_is_applied():
    from PIL import Image

    im = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    out = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == (40, 20, 3)


@pytest.mark.parametrize("kind", ["gray", "uint16", "rgba"])
def test_odd_pixel_formats_become_3ch_uint8(tmp_path, kind):
    arr = {
        "gray": np.full((12, 16), 200, np.uint8),
        "uint16": np.full((12, 16), 50000, np.uint16),
        "rgba": np.full((12, 16, 4), 100, np.uint8),
    }[kind]
    p = tmp_path / f"{kind}.png"
    cv2.imencode(".png", arr)[1].tofile(str(p))
    im = read_image(p)
    assert im.shape == (12, 16, 3) and im.dtype == np.uint8
    if kind == "uint16":
        assert im.max() == 50000 >> 8


def test_non_ascii_path(tmp_path):
    p = write_pair(tmp_path / "数据集", "图片", None)
    assert read_image(p).shape == (48, 64, 3)
    assert list_images(p.parent) == [str(p)]


@pytest.mark.parametrize("hw, size, augment, expect", [
    ((425, 640), 320, False, (213, 320)),  # 212.5 rounds up, as YOLOv5 (round would give 212)
    ((481, 640), 320, False, (241, 320)),
    ((480, 640), 320, True, (240, 320)),
    ((200, 100), 320, False, (320, 160)),  # upscaling
    ((640, 640), 640, False, (640, 640)),
])
def test_resize_long_side_rounds_up_like_yolov5(hw, size, augment, expect):
    im = np.random.default_rng(0).integers(0, 255, (*hw, 3), dtype=np.uint8)
    assert resize_long_side(im, size, augment).shape[:2] == expect


def test_symlinked_folders_are_followed_once_and_counted(tmp_path, caplog):
    root = tmp_path / "images" / "train"
    write_pair(tmp_path, "a", None)
    other = tmp_path / "elsewhere"
    other.mkdir()
    cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tofile(str(other / "b.jpg"))
    (root / "linked").symlink_to(other, target_is_directory=True)
    (other / "loop").symlink_to(root, target_is_directory=True)  # a link back up the tree
    (root / "again").symlink_to(other, target_is_directory=True)  # a second way into the same folder
    with caplog.at_level("INFO"):
        files = list_images(root)
    names = [os.path.relpath(f, root) for f in files]
    assert names == ["a.jpg", "again/b.jpg"]  # once, under its first name in sorted order
    assert "1 images found through symlinked folders" in caplog.text


def test_fifo_and_folder_named_like_images_are_listed_and_refused_by_name(tmp_path):
    from yolo_exp.data.verify import CORRUPT, scan

    write_pair(tmp_path, "a", "0 0.5 0.5 0.2 0.2\n")
    root = tmp_path / "images" / "train"
    os.mkfifo(root / "pipe.jpg")
    (root / "folder.png").mkdir()
    files = list_images(root)
    assert [os.path.basename(f) for f in files] == ["a.jpg", "folder.png", "pipe.jpg"]
    records = scan(files, nc=1, workers=1)  # would block forever on the FIFO
    bad = {os.path.basename(r.im_file): r.msgs[0] for r in records if r.status == CORRUPT}
    assert "is a FIFO, not a regular file" in bad["pipe.jpg"] and "is a directory" in bad["folder.png"]
    with pytest.raises(ValueError, match="pipe.jpg: image is a FIFO"):
        read_image(root / "pipe.jpg")


def _png_claiming(w: int, h: int) -> bytes:
    """A 16x16 PNG whose header claims w x h (CRC fixed, so Pillow reads it)."""
    import struct
    import zlib

    data = bytearray(cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("w,h", [(40_000, 30_000), (12_000, 12_000)])
def test_images_whose_header_claims_too_many_pixels_are_refused_before_decoding(tmp_path, monkeypatch, w, h):
    monkeypatch.setenv("YOLO_EXP_MAX_PIXELS", str(100_000_000))
    p = tmp_path / "giga.png"
    p.write_bytes(_png_claiming(w, h))
    with pytest.raises(ValueError, match=r"giga.png: image header claims .*pixels, over the limit of 100,000,000"):
        read_image(p)
    monkeypatch.setenv("YOLO_EXP_MAX_PIXELS", "100")  # settable both ways: a 16x16 image is over 100 pixels
    small = tmp_path / "small.png"
    small.write_bytes(cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    with pytest.raises(ValueError, match="16x16 = 256 pixels"):
        read_image(small)


def test_a_sparse_image_file_claiming_terabytes_is_refused_by_its_size(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_EXP_MAX_PIXELS", "1000")  # image files over 8 bytes per pixel + 64 MB
    p = tmp_path / "sparse.jpg"
    with open(p, "wb") as f:
        f.truncate(80 << 20)  # no blocks on disk
    with pytest.raises(ValueError, match=r"sparse.jpg: image is 83,886,080 bytes, over the limit of 67,116,864"):
        read_image(p)
