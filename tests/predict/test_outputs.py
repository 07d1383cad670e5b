"""What predict writes stays inside its run folder whatever the weights' class names and the sources' names are,
and sources that share a file name keep one annotated picture and one label file each."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from yolo_exp.predict.outputs import Outputs
from yolo_exp.predict.sources import Frame

HOSTILE = ["../../../../elsewhere/x", "/elsewhere/x", "..", "Person", "person", "x\x00y", "a\\..\\b", "", "é" * 250]


def test_hostile_class_and_source_names_stay_inside_the_run_folder(tmp_path):
    run = tmp_path / "a" / "b" / "run"  # crops/../../../.. is tmp_path
    run.mkdir(parents=True)
    out = Outputs(run, HOSTILE, save_img=True, save_txt=True, save_crop=True)
    image = np.full((64, 64, 3), 127, np.uint8)
    det = np.array([[4, 4, 40, 40, 0.9, c] for c in range(len(HOSTILE))], np.float32)
    sources = ["/data/A.jpg", "/other/a.jpg", "rtsp://host/../../live", "/d/" + "n" * 250 + ".jpg"]
    for i, path in enumerate(sources):
        out.add(SimpleNamespace(path=path, index=0 if path.startswith("rtsp") else None, image=image, fps=5.0), det)
    out.close()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(run) for p in written)
    assert not Path("/elsewhere").exists()
    folders = sorted(p.name for p in (run / "crops").iterdir())
    assert len(folders) == len(HOSTILE) and len({f.casefold() for f in folders}) == len(HOSTILE)  # Person, person_1
    assert {p.parent.parent for p in (run / "crops").rglob("*.jpg")} == {run / "crops"}
    assert len(list((run / "crops").rglob("*.jpg"))) == len(HOSTILE) * len(sources)
    pictures = sorted(p.name for p in run.glob("*.jpg"))
    assert pictures[:2] == ["A.jpg", "a_1.jpg"]  # not one picture over the other on a case-insensitive disk
    assert len(list((run / "labels").glob("*.txt"))) == len(sources)


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
