"""predict's run folder: sources that share a file name keep one annotated picture and one label file each."""
from __future__ import annotations

import cv2
import numpy as np

from yolo_exp.predict.outputs import Outputs
from yolo_exp.predict.sources import Frame


def test_sources_with_the_same_name_keep_their_own_pictures_and_labels(tmp_path):
    out = Outputs(tmp_path / "run", ["a", "b"])
    (tmp_path / "run").mkdir()
    det = np.array([[2, 2, 10, 10, 0.9, 1]], dtype=np.float32)
    for folder, shade in (("a", 40), ("b", 200)):
        out.add(Frame(f"{tmp_path}/{folder}/img.jpg", None, np.full((32, 32, 3), shade, np.uint8)), det)
    out.close()

    pictures = sorted(p.name for p in (tmp_path / "run").glob("*.jpg"))
    assert pictures == ["img.jpg", "img_1.jpg"]
    assert sorted(p.name for p in (tmp_path / "run" / "labels").iterdir()) == ["img.txt", "img_1.txt"]
    for name, shade in (("img.jpg", 40), ("img_1.jpg", 200)):  # each its own source's (a corner away from the box)
        assert abs(int(cv2.imread(str(tmp_path / "run" / name))[-1, -1, 0]) - shade) <= 3
