from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest
import yaml

from yolo_exp.data import shapes
from yolo_exp.data.dataset import YoloDataset
from yolo_exp.data.shapes import generate_shapes


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_layout_and_determinism(tmp_path):
    t = time.perf_counter()
    a = generate_shapes(tmp_path / "a", n_train=64, n_val=16, img_size=128, seed=7)
    assert time.perf_counter() - t < 10
    b = generate_shapes(tmp_path / "b", n_train=64, n_val=16, img_size=128, seed=7)
    assert len(list((a / "images" / "train").glob("*.jpg"))) == 64
    assert len(list((a / "images" / "val").glob("*.jpg"))) == 16
    data = yaml.safe_load((a / "data.yaml").read_text())
    assert data["path"] == str(a) and data["train"] == "images/train" and len(data["names"]) == 4
    assert _digest(a / "images") == _digest(b / "images") and _digest(a / "labels") == _digest(b / "labels")
    c = generate_shapes(tmp_path / "c", n_train=64, n_val=16, img_size=128, seed=8)
    assert _digest(a / "labels") != _digest(c / "labels")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_skips_when_complete_and_regenerates_on_new_params(tmp_path, monkeypatch):
    root = generate_shapes(tmp_path / "s", n_train=4, n_val=2, img_size=64)
    stamp = (root / "images" / "train" / "train_00000.jpg").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(shapes, "_write_split", lambda *a: calls.append(a))
    generate_shapes(tmp_path / "s", n_train=4, n_val=2, img_size=64)
    assert not calls and (root / "images" / "train" / "train_00000.jpg").stat().st_mtime_ns == stamp
    monkeypatch.undo()
    generate_shapes(tmp_path / "s", n_train=6, n_val=2, img_size=64)
    assert len(list((root / "images" / "train").glob("*.jpg"))) == 6
    assert json.loads((root / shapes.MARKER).read_text())["n_train"] == 6


def test_crash_leaves_nothing_and_foreign_folder_is_refused(tmp_path, monkeypatch):
    def boom(tmp, split, *a):
        (tmp / "images" / split).mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(shapes, "_write_split", boom)
    with pytest.raises(RuntimeError):
        generate_shapes(tmp_path / "s", n_train=4, n_val=2, img_size=64)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        generate_shapes(tmp_path / "mine", n_train=4, n_val=2, img_size=64)
    assert (tmp_path / "mine" / "keep.txt").read_text() == "user data"


def test_statistics_look_like_a_detection_problem(tmp_path):
    root = generate_shapes(tmp_path / "s", n_train=200, n_val=8, img_size=256, seed=0)
    ds = YoloDataset(root / "images" / "train", imgsz=256, nc=4)
    lb = np.concatenate(ds.labels)
    counts = np.bincount(lb[:, 0].astype(int), minlength=4)
    assert (counts > 0.15 * len(lb)).all()  # classes balanced
    side = np.maximum(lb[:, 3], lb[:, 4]) * 256
    assert side.min() < 20 and side.max() > 100  # small to large
    assert 0.01 < (ds.stats["background"] + ds.stats["empty"]) / len(ds) < 0.12
    assert 2 < len(lb) / ds.stats["found"] < 5


def test_concurrent_generation_of_the_same_dataset(tmp_path):
    """Two runs started together (parallel sweep jobs, DDP ranks) both get the complete dataset."""
    import multiprocessing as mp

    from yolo_exp.data.shapes import generate_shapes

    root = tmp_path / "shapes"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=generate_shapes, args=(root, 24, 8, 64, 0)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(list((root / "images" / "train").glob("*.jpg"))) == 24


def test_segmentation_twin_has_the_same_images_and_visible_outlines(tmp_path):
    """Same draws as the detection set; one polygon per visible object, inside the object's box, not overlapping."""
    from yolo_exp.data.shapes import generate_shapes
    from yolo_exp.ops.masks import polygon_mask

    det = generate_shapes(tmp_path / "det", n_train=12, n_val=2, img_size=96, seed=3)
    seg = generate_shapes(tmp_path / "seg", n_train=12, n_val=2, img_size=96, seed=3, segments=True)
    polygons = 0
    for im in sorted((det / "images" / "train").glob("*.jpg")):
        assert (seg / "images" / "train" / im.name).read_bytes() == im.read_bytes()
        label = (det / "labels" / "train" / f"{im.stem}.txt")
        if not label.exists():
            continue
        boxes = [list(map(float, ln.split()[1:])) for ln in label.read_text().splitlines()]
        rows = [list(map(float, ln.split())) for ln in (seg / "labels" / "train" / label.name).read_text().splitlines()]
        assert len(rows) <= len(boxes)  # a hidden object has no outline
        masks = [polygon_mask((96, 96), np.array(r[1:]).reshape(-1, 2) * 96) for r in rows]
        for r, m in zip(rows, masks):
            ys, xs = np.nonzero(m)
            assert len(r) >= 7 and len(xs) > 0
            assert any(abs(xs.mean() / 96 - b[0]) < b[2] / 2 + 0.02 and abs(ys.mean() / 96 - b[1]) < b[3] / 2 + 0.02
                       for b in boxes)  # each outline lies on one of the objects
        if len(masks) > 1:
            stack = np.stack(masks).astype(int)
            assert ((stack.sum(0) > 1).sum()) <= 0.05 * stack.sum()  # visible parts: outlines share edges at most
        polygons += len(rows)
    assert polygons >= 12
