"""predict.py end to end: official YOLOv5n on coco128 images gives validation's boxes; a video in, a video with the
same frame count out, one record per frame; unreadable files are named and skipped; a bad source is one line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import ROOT, shared_path
from tests.engine.test_trainer import TINY, only_run, train


def predict(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "predict.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def records(cwd: Path) -> list[dict]:
    (run,) = [p for p in (cwd / "outputs").glob("*/*") if (p / "predictions.json").is_file()]
    return json.loads((run / "predictions.json").read_text())


def test_official_weights_give_validation_boxes_and_unreadable_files_are_skipped(tmp_path):
    from yolo_exp.build import checkpoint_model
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.engine.validate import inference_copy
    from yolo_exp.ops.boxes import scale_boxes
    from yolo_exp.ops.nms import non_max_suppression

    weights = shared_path("weights", "yolov5n.pt")
    images = sorted(shared_path("datasets", "coco128", "images", "train").glob("*.jpg"))[:4]
    folder = tmp_path / "images"
    folder.mkdir()
    (tmp_path / "labels").mkdir()
    for im in images:  # with their labels: validation's loader wants them
        shutil.copy(im, folder / im.name)
        shutil.copy(im.parents[2] / "labels" / "train" / f"{im.stem}.txt", tmp_path / "labels" / f"{im.stem}.txt")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    proc = predict(tmp_path, f"weights={weights}", f"source={folder}", "imgsz=320", "save_conf=true")
    got = {Path(r["file"]).name: r for r in records(tmp_path)}
    assert sorted(got) == [im.name for im in images]
    log = proc.stdout + proc.stderr
    assert "skipped" in log and "broken.jpg" in log and "1 unreadable files skipped" in log

    # validation's path: its loader (one image per batch: its own rectangular shape), the model, NMS, mapped back
    model, names = checkpoint_model(weights, __import__("logging").getLogger("t"))
    net = inference_copy(model)
    loader, _ = create_dataloader([str(folder / im.name) for im in images], 320, 1, 32, 80, rect=True, pad=0.5,
                                  workers=0, cache_dir=tmp_path / "cache")
    for imgs, _, paths, shapes in loader:
        with torch.no_grad():
            det = non_max_suppression(net(imgs.float() / 255)[0], 0.25, 0.45, max_det=1000)[0]
        scale_boxes(imgs.shape[2:], det[:, :4], shapes[0][0], shapes[0][1])
        rec = got[Path(paths[0]).name]
        assert len(rec["boxes"]) == len(det) and len(det) > 0
        ours = np.array([b["xyxy"] + [b["conf"], b["class"]] for b in rec["boxes"]])
        np.testing.assert_allclose(ours, det.numpy(), atol=0.02)
        assert all(b["name"] == names[b["class"]] for b in rec["boxes"])
    run = next(p for p in (tmp_path / "outputs").glob("*/*"))
    label = (run / "labels" / f"{images[0].stem}.txt").read_text().splitlines()
    assert len(label) == len(got[images[0].name]["boxes"]) and len(label[0].split()) == 6  # with conf
    assert (run / images[0].name).is_file()  # annotated picture


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("tiny")
    train(cwd, *TINY, "epochs=1")
    return only_run(cwd) / "weights" / "best.pt"


def test_video_in_video_out_with_one_record_per_frame(tmp_path, tiny_weights):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    for i in range(12):
        frame = np.full((64, 96, 3), 40, np.uint8)
        cv2.circle(frame, (10 + 6 * i, 32), 12, (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    predict(tmp_path, f"weights={tiny_weights}", f"source={video}", "imgsz=64", "conf_thres=0.0", "batch_size=4")
    recs = records(tmp_path)
    assert [r["frame"] for r in recs] == list(range(12)) and {r["file"] for r in recs} == {str(video)}
    run = next(p for p in (tmp_path / "outputs").glob("*/*"))
    cap = cv2.VideoCapture(str(run / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (96, 64)
    assert len(list((run / "labels").glob("clip_*.txt"))) == 12


def test_missing_source_is_one_line(tmp_path, tiny_weights):
    proc = predict(tmp_path, f"weights={tiny_weights}", f"source={tmp_path / 'nothing'}", ok=False)
    assert proc.returncode == 1 and "no such file, folder or glob match" in proc.stderr
    assert "Traceback" not in proc.stderr
