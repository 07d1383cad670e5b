"""predict.py ``save_json=coco``: predictions.json in COCO's results format, straight into pycocotools or a labelling
tool.

With ``coco_json`` (a COCO annotation file) the image ids are its images', matched by file name, and the category
ids its categories', matched by class name; without it they are what val.py's ``save_json`` writes: the file stem
(an int when numeric) and the class index.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from yolo_exp.metrics.coco import coco_image_id, predictions_to_coco

LOG = logging.getLogger("yolo_exp.predict")


@dataclass(frozen=True)
class CocoIds:
    images: dict[str, Any] | None = None  # file name -> image id; None: the file stem
    categories: list[Any] | None = None   # class index -> category id (None: no such category); None: the index


def read_ids(anno_json: str | None, names: Sequence[str]) -> CocoIds:
    """The ids of a COCO annotation file for these class names; a file that is not one is one line."""
    if anno_json is None:
        return CocoIds()
    try:
        data = json.loads(Path(anno_json).expanduser().read_text(encoding="utf-8"))
        images = {Path(im["file_name"]).name: im["id"] for im in data["images"]}
        by_name = {c["name"]: c["id"] for c in data["categories"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"coco_json={anno_json}: not a COCO annotation file ({type(exc).__name__}: {exc})") from None
    categories = [by_name.get(n) for n in names]
    missing = [n for n, c in zip(names, categories) if c is None]
    if len(missing) == len(names):
        raise ValueError(f"coco_json={anno_json}: none of the model's classes ({', '.join(names[:4])}, ...) is one "
                         f"of its categories ({', '.join(list(by_name)[:4])}, ...)")
    if missing:
        LOG.warning("coco_json=%s has no category for the classes %s: their detections are left out", anno_json,
                    ", ".join(missing))
    return CocoIds(images, categories)


def coco_results(records: Sequence[dict], ids: CocoIds) -> list[dict]:
    """predict's records as COCO result entries (``segmentation``: a mask's RLE)."""
    out: list[dict] = []
    unknown = []
    for r in records:
        path = Path(r["file"])
        if ids.images is None:
            image_id = coco_image_id(path if r["frame"] is None else f"{path.stem}_{r['frame']}")
        elif r["frame"] is None and path.name in ids.images:
            image_id = ids.images[path.name]
        else:
            unknown.append(r["file"])
            continue
        boxes = [b for b in r["boxes"] if ids.categories is None or ids.categories[b["class"]] is not None]
        det = torch.tensor([[*b["xyxy"], b["conf"], b["class"]] for b in boxes]).reshape(-1, 6)
        entries = predictions_to_coco(det, path, ids.categories, image_id=image_id)
        for entry, box in zip(entries, boxes):
            if "mask" in box:
                entry["segmentation"] = box["mask"]
        out += entries
    if unknown:
        LOG.warning("%d images or frames are not images of coco_json (e.g. %s): left out of predictions.json",
                    len(unknown), unknown[0])
    return out
