"""SegmentDataset on real polygons (coco128-seg): masks move with the image and its boxes; overlap numbering."""
from __future__ import annotations

import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from yolo_exp.config.schema import HypConfig
from yolo_exp.data.loader import create_dataloader
from yolo_exp.data.segment_dataset import SegmentDataset
from yolo_exp.ops.boxes import xywhn2xyxy


@pytest.fixture(scope="module")
def seg_images(tmp_path_factory):
    """Eight coco128-seg images with their polygon labels, copied (caches are written beside nothing shared)."""
    src = shared_path("datasets", "coco128-seg")
    root = tmp_path_factory.mktemp("seg")
    for sub in ("images", "labels"):
        (root / sub / "train").mkdir(parents=True)
    for im in sorted((src / "images" / "train").glob("*.jpg"))[:8]:
        shutil.copy(im, root / "images" / "train" / im.name)
        shutil.copy(src / "labels" / "train" / f"{im.stem}.txt", root / "labels" / "train" / f"{im.stem}.txt")
    return root / "images" / "train"


def _dataset(seg_images, tmp_path, overlap, **hyp):
    return SegmentDataset(seg_images, imgsz=256, augment=True, hyp={**asdict(HypConfig()), **hyp}, nc=80,
                          cache_dir=tmp_path, seed=1, overlap=overlap)


def _assert_masks_fit_boxes(masks: torch.Tensor, targets: torch.Tensor, size: tuple[int, int], ratio: int = 4):
    """Each instance's mask lies in its box: boxes and masks come from the same moved polygon."""
    boxes = xywhn2xyxy(targets[:, 2:].numpy(), w=size[1], h=size[0]) / ratio
    for m, (x1, y1, x2, y2) in zip(masks.numpy(), boxes):
        ys, xs = np.nonzero(m)
        if len(xs) < 4:  # a sliver that rasterised to (almost) nothing at 1/4
            continue
        assert xs.min() >= x1 - 1.5 and xs.max() <= x2 + 0.5 and ys.min() >= y1 - 1.5 and ys.max() <= y2 + 0.5
        assert (xs.max() - xs.min() + 1) >= 0.5 * (x2 - x1) and (ys.max() - ys.min() + 1) >= 0.5 * (y2 - y1)


@pytest.mark.parametrize("case", [{}, {"mosaic": 0.0, "degrees": 10.0, "flipud": 0.5},
                                  {"mixup": 1.0, "copy_paste": 0.5}])
def test_masks_follow_every_augmentation(seg_images, tmp_path, case):
    ds = _dataset(seg_images, tmp_path, overlap=False, **case)
    seen = 0
    for i in range(8):
        img, targets, _, _, masks = ds[(i, True, 0)]
        assert masks.shape == (len(targets), img.shape[1] // 4, img.shape[2] // 4) and masks.dtype == torch.uint8
        _assert_masks_fit_boxes(masks, targets, img.shape[1:])
        seen += len(targets)
    assert seen > 20  # real crowded images: the check ran on many instances


def test_overlap_mask_numbers_instances_by_area_with_the_labels_in_that_order(seg_images, tmp_path):
    one, many = _dataset(seg_images, tmp_path, overlap=True), _dataset(seg_images, tmp_path, overlap=False)
    for i in range(4):
        _, t1, _, _, index = one[(i, True, 0)]
        _, t2, _, _, masks = many[(i, True, 0)]  # the same draws: the same instances, in another order
        order = np.argsort(-masks.flatten(1).sum(1).numpy(), kind="stable")
        assert torch.equal(t1, t2[order])
        assert index.shape == masks.shape[1:] and int(index.max()) <= len(t1)
        smallest = order[-1] if len(order) else None
        if smallest is not None and masks[smallest].sum() > 0:  # drawn last: keeps all its pixels
            assert torch.equal(index == len(order), masks[smallest] > 0)


def test_loader_batches_carry_the_masks(seg_images, tmp_path):
    for overlap in (True, False):
        loader, _ = create_dataloader(seg_images, 128, 4, 32, 80, hyp=asdict(HypConfig()), augment=True, workers=0,
                                      cache_dir=tmp_path, dataset_class=lambda *a, **k: SegmentDataset(
                                          *a, overlap=overlap, **k))
        imgs, targets, paths, shapes, masks = next(iter(loader))
        assert imgs.shape == (4, 3, 128, 128) and len(paths) == 4
        assert masks.shape == ((4, 32, 32) if overlap else (len(targets), 32, 32))
        assert targets[:, 0].max() == 3  # rows numbered by image, as for detection


def test_without_augmentation_masks_sit_on_the_letterboxed_boxes(seg_images, tmp_path):
    """Validation's path: boxes from the label file, polygons mapped by the same letterbox (rect batches too)."""
    for rect in (False, True):
        ds = SegmentDataset(seg_images, imgsz=256, augment=False, rect=rect, batch_size=4, stride=32, pad=0.5,
                            nc=80, cache_dir=tmp_path, overlap=False)
        for i in range(len(ds)):
            img, targets, _, shapes, masks = ds[i]
            assert shapes is not None and masks.shape[1:] == (img.shape[1] // 4, img.shape[2] // 4)
            _assert_masks_fit_boxes(masks, targets, img.shape[1:])


def test_a_detect_run_on_the_segment_dataset_is_one_line(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.engine.test_trainer import TINY

    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "epochs=1",
                           "data.dataset._target_=yolo_exp.data.segment_dataset.SegmentDataset"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "whose batches carry masks: a detect model" in proc.stderr


def test_the_shapes_seg_option_gives_batches_with_masks(tmp_path):
    """The embedded twin: `data=shapes-seg` generates polygons, verifies clean and loads through SegmentDataset
    for a segment model (YoloDataset, boxes of the polygons, for a detect model)."""
    from yolo_exp.build import run_data, task_dataset
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.data.dataset import YoloDataset
    from yolo_exp.data.verify import CORRUPT

    cfg = compose_checked(["data=shapes-seg", "data.shapes.n_train=8", "data.shapes.n_val=4",
                           "data.shapes.img_size=96", f"cache_dir={tmp_path}"], check_paths=False)
    run = run_data(cfg)
    assert task_dataset(run.spec, "detect").func is YoloDataset
    loader, ds = create_dataloader(run.spec.train, 96, 4, 32, run.nc, hyp=asdict(HypConfig()), augment=True,
                                   workers=0, cache_dir=tmp_path, dataset_class=task_dataset(run.spec, "segment"))
    assert isinstance(ds, SegmentDataset) and ds.stats[CORRUPT] == 0 and all(len(s) for s in ds.segments if len(s))
    imgs, targets, _, _, masks = next(iter(loader))
    assert imgs.shape[0] == 4 and masks.shape == (4, 24, 24) and int(masks.max()) >= 1
    for b in range(4):  # every target of an image has its index in that image's mask
        n = int((targets[:, 0] == b).sum())
        assert set(torch.unique(masks[b]).tolist()) <= set(range(n + 1))
