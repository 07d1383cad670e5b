"""`bench data --stages`: the per-step cost table, measured for real on coco128, and the timing it rests on."""
from __future__ import annotations

import time

import pytest
import torch

from tests.conftest import shared_path
from yolo_exp.bench import stages
from yolo_exp.data import augment
from yolo_exp.data.dataset import DEFAULT_AUG_HYP, YoloDataset
from yolo_exp.data.opencv_images import OpenCVImages


def _coco128(tmp_path, cache: str = "none") -> YoloDataset:
    return YoloDataset(shared_path("datasets", "coco128", "images", "train"), imgsz=320, augment=True,
                       hyp=DEFAULT_AUG_HYP, nc=80, cache=cache, cache_dir=tmp_path)


def test_timers_count_nested_calls_once():
    timers = stages.Timers()
    inner = timers.wrap("inner", lambda: time.sleep(0.03))
    outer = timers.wrap("outer", lambda: (inner(), time.sleep(0.01)))
    outer()
    outer()
    assert timers.calls == {"inner": 2, "outer": 2}
    assert 0.06 <= timers.seconds["inner"] < 0.1
    assert 0.02 <= timers.seconds["outer"] < 0.05  # its own sleeps only


def test_stage_table_on_coco128(tmp_path):
    rows = stages.stage_rows(stages.time_stages(_coco128(tmp_path), samples=6, batch_size=4), samples=6)
    by = {r["stage"]: r for r in rows}
    assert list(by) == [*stages.CORE, "total"]  # mixup and letterbox are not called with scratch-low
    for name in stages.CORE:
        assert by[name]["calls_per_image"] > 0 and by[name]["ms_per_image"] > 0 and 0 < by[name]["share"] < 1
    assert by["decode_resize"]["calls_per_image"] == 4  # mosaic: four tiles per sample
    assert by["collate"]["calls_per_image"] == 2 / 6  # batches of 4 and 2
    assert abs(sum(by[n]["share"] for n in stages.CORE) - 1) < 1e-9
    assert abs(sum(by[n]["ms_per_image"] for n in stages.CORE) - by["total"]["ms_per_image"]) < 1e-6
    assert by["total"]["images_per_s"] == pytest.approx(1000 / by["total"]["ms_per_image"])


def test_stage_table_with_ram_cache_still_times_the_lookup(tmp_path):
    rows = stages.stage_table(shared_path("datasets", "coco128", "images", "train"), 320, 2, DEFAULT_AUG_HYP,
                              samples=2, nc=80, cache="ram", cache_dir=tmp_path)
    by = {r["stage"]: r for r in rows}
    assert by["decode_resize"]["calls_per_image"] == 4 and by["decode_resize"]["ms_per_image"] > 0
    assert by["decode_resize"]["share"] < by["mosaic_paste"]["share"] + by["warp"]["share"] + by["hsv"]["share"]


def test_timing_changes_no_sample_and_is_undone(tmp_path):
    ds = _coco128(tmp_path)
    threads, hsv = torch.get_num_threads(), augment.apply_hsv
    plain = ds[(3, True, 0)]
    with stages.instrumented(ds, stages.Timers()):
        timed = ds[(3, True, 0)]
        assert ds.images is not OpenCVImages and augment.apply_hsv is not hsv
    assert torch.equal(plain[0], timed[0]) and torch.equal(plain[1], timed[1])
    assert ds.images is OpenCVImages and "load_image" not in vars(ds)
    assert augment.apply_hsv is hsv and torch.get_num_threads() == threads


def test_bench_data_stages_command_on_shapes(tmp_path):
    import json

    from yolo_exp.bench import cli

    out = tmp_path / "stages.json"
    assert cli.main(["data", "data=shapes", "imgsz=64", "batch_size=2", "--stages", "--samples", "4", "--json",
                     str(out)]) == 0
    res = json.loads(out.read_text())
    rows = {r["stage"]: r for r in res["rows"]}
    assert set(rows) >= {*stages.CORE, "total"} and all(r["bench"] == "data-stages" for r in rows.values())
    assert rows["total"]["ms_per_image"] > 0 and res["meta"]["loadavg_after"] >= 0
