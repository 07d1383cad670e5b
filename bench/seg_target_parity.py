"""Mask targets against YOLOv5 (docs/quality.md, issue 30): the same images through both segmentation loaders on the
letterbox path (no augmentation, so no random draw), images and overlap index masks compared one by one.

Step 1, in the oracle venv (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1):
    python bench/seg_target_parity.py yolov5 DATA_DIR OUT [IMGSZ]
saves YOLOv5's letterboxed images, labels and index masks (mask ratio 4, overlap) of DATA_DIR's train images.
Step 2, in our environment:
    python bench/seg_target_parity.py ours DATA_DIR OUT [IMGSZ]
builds ours the same way and prints how many images and masks are identical and, where masks differ, by how many
pixels and whether only the instance numbering (the area order) differs.
DATA_DIR holds images/{train,val}, labels/{train,val} and data.yaml (YOLOv5 writes its label cache there).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import yaml


def yolov5_side(data_dir: Path, out: Path, imgsz: int) -> None:
    from yolov5.utils.segment.dataloaders import create_dataloader

    out.mkdir(parents=True, exist_ok=True)
    ds = create_dataloader(str(data_dir / "images/train"), imgsz, 16, 32, False, hyp={}, augment=False, workers=0,
                           mask_downsample_ratio=4, overlap_mask=True, prefix="train: ")[1]
    samples = [ds[i] for i in range(len(ds))]
    torch.save({Path(s[2]).name: (s[0].clone(), s[1].clone(), s[4].clone()) for s in samples}, out / "yolov5_seg.pt")


def ours_side(data_dir: Path, out: Path, imgsz: int) -> None:
    from yolo_exp.data.segment_dataset import SegmentDataset

    nc = int(yaml.safe_load((data_dir / "data.yaml").read_text())["nc"])
    ds = SegmentDataset(data_dir / "images/train", imgsz=imgsz, augment=False, nc=nc, cache_dir=out / "cache")
    theirs = torch.load(out / "yolov5_seg.pt", weights_only=True)
    same_img = same_mask = renumbered = 0
    diffs = []
    for i in range(len(ds)):
        img, targets, path, _, mask = ds[i]
        t_img, t_labels, t_mask = theirs[Path(path).name]
        t_mask = t_mask.reshape(mask.shape).long()  # YOLOv5's overlap mask is (1, h, w)
        same_img += torch.equal(img, t_img)
        if torch.equal(mask, t_mask):
            same_mask += 1
            continue
        ours_fg, their_fg = mask > 0, t_mask > 0
        if torch.equal(ours_fg, their_fg) and len(targets) == len(t_labels):
            renumbered += 1  # the same pixels, instances numbered in another order (an area tie)
        diffs.append(int((ours_fg != their_fg).sum()))
    px = mask.numel()
    print(f"{len(ds)} images: identical images {same_img}, identical index masks {same_mask}, "
          f"same foreground but renumbered {renumbered}; differing masks: {len(diffs)}, mean "
          f"{np.mean(diffs) if diffs else 0:.1f} of {px} foreground pixels differ")


if __name__ == "__main__":
    step, data, dst = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve()
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    (yolov5_side if step == "yolov5" else ours_side)(data, dst, size)
