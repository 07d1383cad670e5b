"""safe_name / UniqueNames: a name read from a file (class name, image stem, stream URL, checkpoint name) is one
harmless path component; many of them in one folder stay distinct, also on case-insensitive filesystems."""
from __future__ import annotations

from pathlib import Path

import pytest

from yolo_exp.files.paths import MAX_NAME_BYTES, UniqueNames, safe_name

HOSTILE = ["../../../../elsewhere/x", "/elsewhere/x", "..", ".", "", "   ", "a/b", "a\\b", "..\\..\\x", "C:\\x",
           "x\x00y", "\x00", "tab\there", ".hidden", "trailing.", "CON", "nul.txt", "é" * 200, "x" * 300,
           "\udcff", "rtsp://host:554/../../live"]


@pytest.mark.parametrize("name", HOSTILE)
def test_every_name_is_one_component_inside_its_folder(tmp_path, name):
    out = safe_name(name, ".jpg")
    assert out.endswith(".jpg") and len(out.encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES
    assert "/" not in out and "\\" not in out and "\x00" not in out and not out.startswith(".")
    target = tmp_path / out
    assert target.resolve().parent == tmp_path.resolve()  # never .., never absolute
    target.write_bytes(b"ok")  # the filesystem accepts it (long names included)
    assert target.read_bytes() == b"ok"


def test_ordinary_names_are_kept_and_the_function_is_idempotent():
    for name in ("person", "traffic light", "img_001", "Ünïcode-名字", "a.b"):
        assert safe_name(name) == name
    for name in HOSTILE:
        assert safe_name(safe_name(name)) == safe_name(name)


def test_long_names_are_cut_with_a_hash_so_they_stay_distinct():
    a, b = safe_name("x" * 300 + "a", ".txt"), safe_name("x" * 300 + "b", ".txt")
    assert a != b and len(a.encode()) == len(b.encode()) <= MAX_NAME_BYTES
    multibyte = safe_name("名" * 200)  # cut on a character boundary
    assert len(multibyte.encode()) <= MAX_NAME_BYTES and multibyte.encode().decode() == multibyte


def test_unique_names_differ_case_folded_and_are_stable_per_key():
    names = UniqueNames()
    got = [names(k, n) for k, n in enumerate(["Car", "car", "CAR", "../car", "..", ".."])]
    assert len({g.casefold() for g in got}) == len(got)
    assert got[:3] == ["Car", "car_1", "CAR_2"]
    assert names(1, "anything else") == "car_1"  # a key keeps its name


@pytest.mark.slow  # a predict.py process (~18 s here); tests/predict/test_outputs.py checks the same in-process
def test_predict_writes_crops_of_hostile_class_names_inside_its_run_folder(tmp_path):
    """End to end: a checkpoint whose class names are paths out of the run folder; save_crop=true."""
    import torch

    from tests.conftest import shared_path
    from tests.commands.test_predict import predict
    from yolo_exp.build import checkpoint_model
    from yolo_exp.engine.checkpoint import atomic_save, model_record

    model, names = checkpoint_model(shared_path("weights", "yolov5n.pt"), __import__("logging").getLogger("t"))
    hostile = ["../../../../elsewhere/x", "/elsewhere/x", "..", "Person", "person", "x\x00y", "a\\..\\b"]
    model.names = [hostile[i % len(hostile)] for i in range(len(names))]
    weights = tmp_path / "hostile.pt"
    atomic_save({"model": model.state_dict(), **model_record(model)}, weights)
    images = tmp_path / "in" / "deep" / "er"
    images.mkdir(parents=True)
    for im in sorted(shared_path("datasets", "coco128", "images", "train").glob("*.jpg"))[:2]:
        (images / im.name).write_bytes(im.read_bytes())
    before = set(Path("/").iterdir())
    predict(tmp_path, f"weights={weights}", f"source={images}", "imgsz=160", "conf_thres=0.05", "save_crop=true",
            "hydra.run.dir=a/b/run")  # crops/../../../.. would be tmp_path
    run = tmp_path / "a" / "b" / "run"
    crops = [p for p in (run / "crops").rglob("*.jpg")]
    assert crops and {p.parent.parent for p in crops} == {run / "crops"}
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(run) or p.is_relative_to(tmp_path / "in") or p == weights for p in written)
    assert not (tmp_path / "elsewhere").exists() and set(Path("/").iterdir()) == before
