from __future__ import annotations

import io

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
