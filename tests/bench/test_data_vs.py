"""`bench data` per CPU-second, and `--yolov5` beside YOLOv5's loader (run only where its interpreter is)."""
from __future__ import annotations

import os
import time

import pytest

from tests.conftest import ROOT, shared_path
from yolo_exp.bench import data_vs, loadclock
from yolo_exp.bench.data import bench_loader
from yolo_exp.data.dataset import DEFAULT_AUG_HYP
from yolo_exp.data.files import list_images

YOLOV5_PY = ROOT.parent / "oracle" / "venv" / "bin" / "python"


def _coco128():
    return shared_path("datasets", "coco128", "images", "train")


def test_pid_cpu_seconds_reads_this_process():
    t0 = time.process_time()
    while time.process_time() - t0 < 0.2:
        pass
    mine = loadclock.pid_cpu_seconds(os.getpid())
    assert abs(mine - time.process_time()) < 0.1  # clock ticks of 10 ms; the test's threads are all counted
    assert loadclock.pid_cpu_seconds(2**22 + 1) is None  # above Linux's pid_max: no such process


def test_cpu_figures_divide_the_counts():
    got = loadclock.cpu_figures(64, 2.0, 0.5, 1.5)
    assert got == {"images_per_s": 32.0, "main_cpu_s_per_image": 0.5 / 64, "workers_cpu_s_per_image": 1.5 / 64,
                   "images_per_cpu_s": 32.0}


def test_loader_per_cpu_second_on_coco128():
    rows = bench_loader(_coco128(), 320, 4, [0, 1], n_batches=3, nc=80)
    alone, worker = rows
    for r in rows:
        assert r["images_per_s"] > 0 and r["images_per_cpu_s"] > 0
        cpu = r["main_cpu_s_per_image"] + r["workers_cpu_s_per_image"]
        assert r["images_per_cpu_s"] == pytest.approx(1 / cpu)
    assert alone["workers_cpu_s_per_image"] == 0 and alone["main_cpu_s_per_image"] > 0
    assert worker["workers_cpu_s_per_image"] > worker["main_cpu_s_per_image"]  # the worker augments, main waits


def test_copy_split_keeps_the_label_rule(tmp_path):
    images = data_vs.copy_split(_coco128(), tmp_path / "data")
    copied, source = list_images(images), list_images(_coco128())
    assert len(copied) == len(source) and not any(f.startswith(str(_coco128())) for f in copied)
    labels = list((tmp_path / "data" / "labels").iterdir())
    assert 0 < len(labels) <= len(copied) and all(p.suffix == ".txt" for p in labels)


def test_ratio_rows_and_hyp_differences():
    rows = [{"side": "ours", "workers": 0, "cache": "ram", "images_per_s": 30.0, "images_per_cpu_s": 40.0},
            {"side": "yolov5", "workers": 0, "cache": "ram", "images_per_s": 20.0, "images_per_cpu_s": 10.0},
            {"side": "ours", "workers": 0, "cache": "ram", "images_per_s": 50.0, "images_per_cpu_s": 60.0},
            {"side": "yolov5", "workers": 0, "cache": "ram", "images_per_s": 20.0, "images_per_cpu_s": 30.0}]
    assert data_vs.ratio_rows(rows) == [{"side": "ours/yolov5", "workers": 0, "cache": "ram", "images_per_s": 2.0,
                                         "images_per_cpu_s": 2.5}]
    assert data_vs.hyp_differences({"lr0": 0.01}, DEFAULT_AUG_HYP) == {}
    assert data_vs.hyp_differences({"mosaic": 0.5}, DEFAULT_AUG_HYP) == {"mosaic": (0.5, 1.0)}


@pytest.mark.slow  # two fresh processes per side and worker count
@pytest.mark.skipif(not YOLOV5_PY.is_file(), reason=f"no YOLOv5 interpreter at {YOLOV5_PY} (bench/oracle_setup.sh)")
def test_beside_yolov5_in_fresh_processes():
    rows = data_vs.bench_data_vs(_coco128(), 160, 4, [0, 1], DEFAULT_AUG_HYP, 2, 80, "none", str(YOLOV5_PY))
    assert [(r["side"], r["workers"]) for r in rows] == [("ours", 0), ("yolov5", 0), ("ours", 1), ("yolov5", 1),
                                                         ("ours/yolov5", 0), ("ours/yolov5", 1)]
    assert all(r["images_per_cpu_s"] > 0 and r["images_per_s"] > 0 for r in rows)
    assert all(r["hyp_differs"] == "no" for r in rows if r["side"] == "yolov5")
