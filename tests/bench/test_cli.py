"""The benchmark command on tiny real inputs: figures and machine facts are produced."""
from __future__ import annotations

import json

import pytest
import torch

from yolo_exp.bench import cli as bench


def _run(tmp_path, *args: str) -> dict:
    out = tmp_path / "b.json"
    assert bench.main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_step_reports_figures_with_the_thread_count(tmp_path):
    before = torch.get_num_threads()
    try:
        res = _run(tmp_path, "step", "model=yolov5n", "imgsz=64", "batch_size=2", "device=cpu", "--iters", "2")
        assert res["meta"]["threads"] == before  # torch's default unless asked
        res = _run(tmp_path, "step", "model=yolov5n", "imgsz=64", "batch_size=2", "device=cpu", "--threads", "1",
                   "--iters", "1")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    row, meta = res["rows"][0], res["meta"]
    assert meta["threads"] == 1 and meta["cpus"] >= 1 and meta["loadavg_before"] >= 0
    assert row["bench"] == "step" and row["images_per_s"] > 0 and row["ms_per_iter"] > 0
    assert 0.1 < row["peak_rss_gib"] < 64


def test_step_profile_and_model_flops_utilisation(tmp_path):
    from yolo_exp.bench.profiling import mfu
    from yolo_exp.models.summary import gflops
    from yolo_exp.models.yolo import build_model

    res = _run(tmp_path, "step", "model=yolov5n", "imgsz=64", "batch_size=2", "device=cpu", "--iters", "2",
               "--profile", str(tmp_path / "prof"), "--peak-tflops", "0.1")
    row = res["rows"][0]
    assert row["train_gflops_per_image"] == 3 * gflops(build_model("yolov5n", nc=80), 64)
    assert row["mfu"] == mfu(row["images_per_s"], row["train_gflops_per_image"], 0.1) > 0
    assert row["profiled_ms_per_step"] > 0 and row["gpu_busy"] is None  # no GPU: the CPU ops are listed
    assert "aten::convolution" in (tmp_path / "prof" / "step_profile.txt").read_text()
    assert mfu(1000.0, 50.0, 790.0) == 1000 * 50 / 790e3 and mfu(1.0, 1.0, None) is None


def test_train_on_generated_shapes(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_EXP_CACHE_DIR", str(tmp_path / "cache"))
    before = torch.get_num_threads()
    try:
        res = _run(tmp_path, "train", "debug=fast", "device=cpu", "data=shapes", "--threads", "1", "--epochs", "2")
    finally:
        torch.set_num_threads(before)
    row = res["rows"][0]
    assert row["bench"] == "train" and len(row["epoch_s"]) == 2 and row["images_per_s"] > 0
    assert row["images_per_s_in_epoch"] > 0 and 0 <= row["data_wait"] < 1
    assert 0 < row["time_to_first_iter_s"] < 600


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_predict_reports_images_per_second_per_format(tmp_path):
    import pytest

    from tests.engine.test_trainer import TINY, only_run, train

    pytest.importorskip("onnxruntime")
    train(tmp_path, *TINY, "epochs=1")
    weights = only_run(tmp_path) / "weights" / "best.pt"
    res = _run(tmp_path, "predict", f"weights={weights}", "imgsz=64", "device=cpu", "data.shapes.n_train=16",
               "data.shapes.n_val=8", "data.shapes.img_size=96", "--formats", "pt,onnx")
    rows = {r["format"]: r for r in res["rows"]}
    assert set(rows) == {"pt", "onnx"} and all(r["images"] == 8 and r["images_per_s"] > 0 for r in rows.values())
