"""`bench scale` on tiny generated data: the dataset it makes, the figures of one measurement, the ratios."""
from __future__ import annotations

import os

import pytest

from yolo_exp.bench import scale, scale_child
from yolo_exp.data.files import list_images


def test_make_dataset_writes_links_and_reuses(tmp_path):
    yamls = scale.make_dataset(tmp_path, [6, 15], val_images=4)
    small, large = (list_images(tmp_path / f"train-{n}" / "images") for n in (6, 15))
    assert (len(small), len(large), len(list_images(tmp_path / "val-4" / "images"))) == (6, 15, 4)
    assert os.path.samefile(small[0], large[0])  # hard links: the same bytes, no disk
    lines = (tmp_path / "train-15" / "labels" / "000003.txt").read_text().splitlines()
    assert 1 <= len(lines) <= 4 and all(len(x.split()) == 5 for x in lines)
    stamp = os.stat(large[-1]).st_mtime_ns
    assert scale.make_dataset(tmp_path, [15, 6], val_images=4) == yamls  # the marker says it is there
    assert os.stat(large[-1]).st_mtime_ns == stamp


def test_scan_and_start_measure_a_real_dataset(tmp_path):
    scale.make_dataset(tmp_path, [24], val_images=4)
    p = {"source": str(tmp_path / "train-24" / "images"), "split": "train", "imgsz": 64, "nc": scale.NC,
         "workers": 0, "cache_dir": str(tmp_path / "cache")}
    got = scale_child.scan(p)
    assert got["images"] == 24 and got["scan_s"] > 0 and got["cache_mb"] > 0 and got["main_peak_rss_mb"] > 0
    got = scale_child.start({**p, "split": "val", "more": 1})
    assert got["images"] == 24 and 0 < got["hit_s"] <= got["first_batch_s"] and got["worker_rss_mb"] == 0


def test_ratios_divide_each_figure_of_the_same_side_and_split():
    rows = [{"side": "ours", "split": "train", "images": 10, "scan_s": 2.0, "hit_s": 0.5},
            {"side": "ours", "split": "train", "images": 100, "scan_s": 21.0, "hit_s": 0.5},
            {"side": "ours", "split": "val", "images": 5, "scan_s": 1.0}]
    assert scale.ratios(rows, 10, 100) == [{"side": "ours", "split": "train", "images": "100/10", "scan_s": 10.5,
                                            "hit_s": 1.0}]


@pytest.mark.slow
def test_bench_scale_end_to_end_in_fresh_processes(tmp_path):
    rows = scale.bench_scale([20, 40], tmp_path, val_images=8, imgsz=64, workers=1)
    ours = {(r["split"], r["images"]): r for r in rows if r["side"] == "ours"}
    assert set(ours) == {("train", 20), ("train", 40), ("val", 8), ("train", "40/20")}
    assert ours[("train", 40)]["run_first_batch_s"] > 0 and ours[("train", 40)]["worker_uss_mb"] > 0
