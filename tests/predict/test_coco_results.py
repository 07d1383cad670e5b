"""save_json=coco's ids: images by file name, categories by class name, and what cannot be matched is said."""
from __future__ import annotations

import json

import pytest

from yolo_exp.metrics.coco import rle_encode
from yolo_exp.predict.coco_results import CocoIds, coco_results, read_ids


def anno(tmp_path, **data):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": [{"id": 7, "file_name": "sub/a.jpg"}],
                                "categories": [{"id": 3, "name": "cat"}, {"id": 9, "name": "dog"}], **data}))
    return str(path)


def record(file, frame=None, classes=(0, 1)):
    import numpy as np

    mask = rle_encode(np.eye(4, dtype=bool))
    return {"file": file, "frame": frame, "width": 4, "height": 4,
            "boxes": [{"xyxy": [1.0, 2.0, 4.0, 3.0], "conf": 0.5, "class": c, "name": "x", "mask": mask}
                      for c in classes]}


def test_ids_come_from_the_annotation_file_and_the_rest_is_named(tmp_path, caplog):
    ids = read_ids(anno(tmp_path), ["dog", "bird"])
    assert "no category for the classes bird" in caplog.text
    out = coco_results([record("/x/a.jpg"), record("/x/b.jpg"), record("/x/a.mp4", 0)], ids)
    assert out == [{"image_id": 7, "category_id": 9, "bbox": [1.0, 2.0, 3.0, 1.0], "score": 0.5,
                    "segmentation": rle_encode(__import__("numpy").eye(4, dtype=bool))}]
    assert "2 images or frames are not images of coco_json (e.g. /x/b.jpg)" in caplog.text


def test_without_an_annotation_file_ids_are_val_pys():
    out = coco_results([record("/x/000123.jpg", classes=(2,)), record("/x/clip.mp4", 4, classes=(0,))], CocoIds())
    assert [(r["image_id"], r["category_id"]) for r in out] == [(123, 2), ("clip_4", 0)]


def test_a_file_that_is_not_coco_or_shares_no_class_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"coco_json={bad}: not a COCO annotation file"):
        read_ids(str(bad), ["cat"])
    with pytest.raises(ValueError, match="none of the model's classes \\(person, car, ...\\) is one of its categ"):
        read_ids(anno(tmp_path), ["person", "car"])
