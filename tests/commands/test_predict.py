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
import yaml

from tests.conftest import ROOT, current_umask, shared_path
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
    assert "skipped" in log and "broken.jpg" in log and "1 unreadable input skipped" in log

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
    video = clip(tmp_path / "clip.mp4")
    predict(tmp_path, f"weights={tiny_weights}", f"source={video}", "imgsz=64", "conf_thres=0.0", "batch_size=4")
    recs = records(tmp_path)
    assert [r["frame"] for r in recs] == list(range(12)) and {r["file"] for r in recs} == {str(video)}
    run = next(p for p in (tmp_path / "outputs").glob("*/*"))
    cap = cv2.VideoCapture(str(run / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (96, 64)
    assert len(list((run / "labels").glob("clip_*.txt"))) == 12

    umask = current_umask()
    train_run = tiny_weights.parents[1]
    written = [run / "predictions.json", run / "config_resolved.yaml", train_run / "config_resolved.yaml",
               train_run / "results.csv", train_run / "summary.json", tiny_weights, tiny_weights.parent / "last.pt"]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(0o666 & ~umask) for p in written}


def test_missing_source_is_one_line(tmp_path, tiny_weights):
    proc = predict(tmp_path, f"weights={tiny_weights}", f"source={tmp_path / 'nothing'}", ok=False)
    assert proc.returncode == 1 and "no such file, folder or glob match" in proc.stderr
    assert "Traceback" not in proc.stderr


def clip(path: Path, n: int = 12) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    for i in range(n):
        frame = np.full((64, 96, 3), 40, np.uint8)
        cv2.circle(frame, (10 + 6 * i, 32), 12, (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def predict_here(run_dir: Path, *overrides: str) -> int:
    """predict.py's job in this process (no Hydra run, no subprocess): the frames it processed."""
    from yolo_exp.commands.predict import _predict
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.config.quoting import quote_paths

    cfg = compose_checked(quote_paths(["imgsz=64", "device=cpu", *overrides]), config_name="predict")
    return _predict(cfg, run_dir)


def test_nothing_processed_is_one_line_and_exit_status_1(tmp_path, tiny_weights):
    video = clip(tmp_path / "cut.mp4")
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # truncated: the index is at the end
    proc = predict(tmp_path, f"weights={tiny_weights}", f"source={video}", ok=False)
    assert proc.returncode == 1, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.strip() and "frame/s" not in ln]  # no OpenCV, FFmpeg
    assert line.startswith(f"error: source={video}: nothing was processed (cannot open video {video})"), line


@pytest.mark.parametrize("source", ["rtsp://127.0.0.1:9/none", "9"])  # refused at once; a camera index not there
def test_unreachable_stream_or_camera_is_an_error_not_an_empty_success(tmp_path, tiny_weights, source):
    with pytest.raises(ValueError, match=f"source={source}: nothing was processed \\(cannot open video stream"):
        predict_here(tmp_path / "run", f"weights={tiny_weights}", f"source={source}")


def test_ctrl_c_counts_the_frames_that_were_saved(tmp_path, tiny_weights, monkeypatch, caplog):
    """Ctrl-C while a batch is being gathered: its frames never reached the model, so they are not counted."""
    from yolo_exp.commands import predict as predict_run
    from yolo_exp.predict.sources import frames

    def interrupted(source, vid_stride):
        for k, frame in enumerate(frames(source, vid_stride)):
            if k == 5:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(predict_run, "frames", interrupted)
    video = clip(tmp_path / "clip.mp4")
    with pytest.raises(KeyboardInterrupt), caplog.at_level("INFO", "yolo_exp.predict"):
        predict_here(tmp_path / "run", f"weights={tiny_weights}", f"source={video}", "batch_size=4")
    assert "interrupted after 4 frames" in caplog.text and "4 frames (" in caplog.text
    assert len(json.loads((tmp_path / "run" / "predictions.json").read_text())) == 4
    assert int(cv2.VideoCapture(str(tmp_path / "run" / "clip.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 4


def test_options_that_cannot_apply_are_said_in_one_line_each(tmp_path, tiny_weights, caplog):
    picture = tmp_path / "one.jpg"
    cv2.imwrite(str(picture), np.full((64, 96, 3), 90, np.uint8))
    with caplog.at_level("WARNING", "yolo_exp.predict"):
        predict_here(tmp_path / "run", f"weights={tiny_weights}", f"source={picture}", "half=true", "classes=[1,99]",
                     "imgsz=80", "save_txt=false", "save_conf=true", "device.compile=true")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "device.compile=true: applies to training only",
        "half=true: FP16 runs on CUDA only; predicting in FP32 on cpu",
        "classes=[1, 99]: [99] not among the model's 4 classes (0-3)",
        "imgsz=80: rounded to 96, a multiple of the model's stride 32",
        "save_conf=true: no labels are written (save_txt=false)"]


def test_run_folder_weights_and_coco_results_that_pycocotools_scores(tmp_path):
    """weights= a run folder (its best.pt), source= a folder whose name Hydra's lexer refuses, save_json=coco with
    the ids of COCO's own annotation file (image ids by file name, category ids 1-90 by class name)."""
    pytest.importorskip("pycocotools")
    from yolo_exp.metrics.coco import coco_eval

    anno = shared_path("datasets", "coco128", "annotations", "instances_train2017_coco128.json")
    run = tmp_path / "my run, v2 #1" / "weights"
    run.mkdir(parents=True)
    (run / "best.pt").symlink_to(shared_path("weights", "yolov5n.pt"))
    folder = tmp_path / "coco [été], 'x'"
    folder.mkdir()
    images = sorted(shared_path("datasets", "coco128", "images", "train").glob("*.jpg"))[:6]
    for im in images:
        (folder / im.name).symlink_to(im)
    predict(tmp_path, f"weights={run.parent}", f"source={folder}", "imgsz=320", "save_json=coco",
            f"coco_json={anno}", "conf_thres=0.001", "save_img=false", "save_txt=false")
    (out,) = [p for p in (tmp_path / "outputs").glob("*/*")]
    results = json.loads((out / "predictions.json").read_text())
    gt = json.loads(anno.read_text())
    ids = {im["file_name"]: im["id"] for im in gt["images"]}
    assert {r["image_id"] for r in results} <= {ids[im.name] for im in images} and len(results) > 20
    names = {c["id"]: c["name"] for c in gt["categories"]}
    assert {names[r["category_id"]] for r in results} >= {"person"}  # 1-90, by name
    assert yaml.safe_load((out / "config_resolved.yaml").read_text())["weights"] == str(run / "best.pt")
    subset = tmp_path / "subset.json"  # the ground truth of these images only
    keep = {ids[im.name] for im in images}
    subset.write_text(json.dumps({**gt, "images": [im for im in gt["images"] if im["id"] in keep],
                                  "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}))
    map5095, map50 = coco_eval(subset, str(out / "predictions.json"))
    assert map50 > 0.3 and map5095 > 0.15, (map50, map5095)
