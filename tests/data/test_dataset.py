from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from yolo_exp.data.dataset import YoloDataset
from yolo_exp.ops.boxes import scale_boxes, xywhn2xyxy

from .conftest import write_pair

S = 64
NO_AUG = {"hsv_h": 0, "hsv_s": 0, "hsv_v": 0, "translate": 0, "scale": 0, "fliplr": 0, "flipud": 0}


def _colour(obj_id: int) -> tuple[int, int, int]:
    return (20 + 13 * obj_id, 235 - 13 * obj_id, 60)


@pytest.fixture
def coded(tmp_path):
    """8 lossless images, 2 disjoint rectangles each, each rectangle a unique colour; labels exact."""
    rng = np.random.default_rng(0)
    for i in range(8):
        im = np.zeros((S, S, 3), np.uint8)
        rows = []
        for j, (x0, x1) in enumerate(((2, 30), (34, 62))):
            x1 = int(rng.integers(x0 + 6, x1))
            y1 = int(rng.integers(2, 40))
            y2 = int(rng.integers(y1 + 6, 62))
            im[y1:y2, x0:x1] = _colour(2 * i + j)
            rows.append(f"{2 * i + j} {(x0 + x1) / 2 / S} {(y1 + y2) / 2 / S} {(x1 - x0) / S} {(y2 - y1) / S}")
        p = write_pair(tmp_path, f"c{i}", "\n".join(rows) + "\n", ext=".png")
        cv2.imencode(".png", im)[1].tofile(str(p))
    return tmp_path / "images" / "train"


def _blobs(img_rgb: torch.Tensor) -> list[tuple[int, np.ndarray]]:
    """(object id, pixel box x1 y1 x2 y2) of every connected region of an object colour in an RGB CHW image."""
    hwc = np.ascontiguousarray(img_rgb.permute(1, 2, 0).numpy()[..., ::-1])  # back to BGR, as written
    out = []
    for k in range(16):
        n, _, stats, _ = cv2.connectedComponentsWithStats((hwc == _colour(k)).all(2).astype(np.uint8))
        out += [(k, np.array([x, y, x + w, y + h], float)) for x, y, w, h, _ in stats[1:n]]
    return out


def test_mosaic_pipeline_labels_every_visible_box_exactly(coded):
    hyp = {**NO_AUG, "fliplr": 0.5, "flipud": 0.5, "mosaic": 1.0}
    ds = YoloDataset(coded, imgsz=S, augment=True, hyp=hyp, nc=16, seed=3)
    full_area = {int(r[0]): r[3] * r[4] * S * S for lb in ds.labels for r in lb}
    checked = 0
    for n in range(40):
        img, targets, _, shapes = ds[n % len(ds)]
        assert img.shape == (3, S, S) and img.dtype == torch.uint8 and shapes is None
        boxes = xywhn2xyxy(targets[:, 2:].numpy().astype(float), S, S)
        labelled = [(int(c), b) for c, b in zip(targets[:, 1].tolist(), boxes)]
        visible = [(k, b) for k, b in _blobs(img)
                   if b[2] - b[0] > 2 and b[3] - b[1] > 2 and (b[2] - b[0]) * (b[3] - b[1]) / full_area[k] > 0.1]
        assert len(labelled) == len(visible), n
        for k, b in visible:  # each visible object has its own exact label
            assert any(c == k and np.abs(lb - b).max() < 0.15 for c, lb in labelled), (n, k, b)
            checked += 1
    assert checked > 40


def test_validation_letterbox_maps_back_to_original(tmp_path):
    write_pair(tmp_path, "wide", "0 0.5 0.5 0.5 0.5\n1 0.2 0.3 0.1 0.2\n", size=(120, 200))
    write_pair(tmp_path, "tall", "2 0.6 0.4 0.3 0.3\n", size=(200, 90))
    ds = YoloDataset(tmp_path / "images" / "train", imgsz=96, batch_size=1, rect=True, pad=0.5, stride=32, nc=3)
    assert not ds.mosaic
    for i in range(len(ds)):
        img, targets, _, ((h0, w0), ratio_pad) = ds[i]
        h, w = img.shape[1:]
        assert (h, w) == tuple(ds.batch_shapes[ds.batch[i]]) and h % 32 == 0 and w % 32 == 0
        boxes = xywhn2xyxy(targets[:, 2:].numpy().astype(float), w, h)
        back = scale_boxes((h, w), boxes, (h0, w0), ratio_pad)
        truth = xywhn2xyxy(ds.labels[i][:, 1:].astype(float), w0, h0)
        np.testing.assert_allclose(back, truth, atol=1.0)
        assert tuple(ds.shapes[i]) == (w0, h0)


def test_single_cls_and_stats(good_dataset):
    ds = YoloDataset(good_dataset / "images" / "train", imgsz=64, nc=3, single_cls=True)
    assert ds.stats == {"found": 6, "background": 0, "empty": 0, "corrupt": 0}
    assert all((lb[:, 0] == 0).all() for lb in ds.labels) and sum(len(lb) for lb in ds.labels) == 9


@pytest.mark.parametrize("cache", ["ram", "disk"])
@pytest.mark.parametrize("imgsz, augment", [(64, False), (40, False), (40, True)])
def test_image_caches_give_identical_samples(good_dataset, tmp_path, cache, imgsz, augment):
    src = good_dataset / "images" / "train"
    plain = YoloDataset(src, imgsz=imgsz, nc=3, augment=augment)
    listing = lambda: sorted(p.name for d in ("images", "labels") for p in (good_dataset / d).rglob("*"))  # noqa: E731
    before = listing()
    cached = YoloDataset(src, imgsz=imgsz, nc=3, cache=cache, cache_dir=tmp_path / "cache", augment=augment)
    for i in range(len(plain)):
        item = (i, augment, 0)  # with augment: the same mosaic draws from the same seed
        assert torch.equal(plain[item][0], cached[item][0])
    assert listing() == before  # never writes into the dataset
    if cache == "disk":  # stored resized to the long side (no decode, no resize when read), memory-mapped
        npys = list((tmp_path / "cache" / "images").glob("*.npy"))
        assert len(npys) == 6 and all(max(np.load(p, mmap_mode="r").shape[:2]) == imgsz for p in npys)
        assert isinstance(cached._load_resized(0), np.memmap)
        other = YoloDataset(src, imgsz=32, nc=3, cache="disk", cache_dir=tmp_path / "cache")
        assert len(list((tmp_path / "cache" / "images").glob("*.npy"))) == 12  # one entry per size
        assert max(other._load_resized(0).shape[:2]) == 32


def test_ram_cache_falls_back_when_it_would_not_fit(good_dataset, monkeypatch, caplog):
    import yolo_exp.data.dataset as D

    monkeypatch.setattr(D, "available_memory", lambda: 1000)
    ds = YoloDataset(good_dataset / "images" / "train", imgsz=64, nc=3, cache="ram")
    assert ds._ram is None and "not caching images in RAM" in caplog.text


def _corrupt_huffman_tables(path) -> None:
    """Damage inside a JPEG that its header walk cannot see (the markers and the end marker stay): libjpeg refuses
    the tables when decoding."""
    from yolo_exp.data.jpeg import _segments

    d = bytearray(path.read_bytes())
    start = next(s for m, s, _ in _segments(bytes(d)) if m == 0xC4)
    d[start + 1:start + 17] = b"\xff" * 16
    path.write_bytes(bytes(d))


def test_an_image_that_passes_the_scan_but_does_not_decode_is_used_empty(good_dataset, tmp_path, caplog):
    src = good_dataset / "images" / "train"
    _corrupt_huffman_tables(src / "im1.jpg")  # 2 labels
    ds = YoloDataset(src, imgsz=64, nc=3, cache_dir=tmp_path / "cache", augment=True)
    assert ds.stats["found"] == 6  # judged by its header at the scan
    i = ds.im_files.index(str(src / "im1.jpg"))
    with caplog.at_level(logging.WARNING):
        img, targets, _, _ = ds[(i, False, 0)]  # letterbox path
        mosaics = [ds[(j, True, 0)] for j in range(len(ds))]  # mosaic path: its tile has no labels either
    assert len(targets) == 0 and (img == img.flatten()[0]).all()  # one grey (HSV may move its level)
    assert caplog.text.count("im1.jpg") == 1 and "used as an empty grey image without its 2 labels" in caplog.text
    assert all(len(t) <= 8 for _, t, _, _ in mosaics)  # 6 images with 1-2 boxes, im1's 2 left out
    assert len(ds[(ds.im_files.index(str(src / "im0.jpg")), False, 0)][1]) == 1  # the others keep theirs
