"""The sweep folder's summary.csv / summary.md / compare.png from synthetic job folders."""
from __future__ import annotations

import csv

import matplotlib.image as mpimg

from tests.sweep.runfolders import make_run
from yolo_exp.sweep.summary import write_sweep_summary


def test_sweep_summary_files(tmp_path):
    make_run(tmp_path / "0", ["hyp.lr0=0.01", "model=yolov5n"], best_map=0.2)
    make_run(tmp_path / "1", ["hyp.lr0=0.02", "model=yolov5n"], best_map=0.4)
    make_run(tmp_path / "2", ["hyp.lr0=0.03", "model=yolov5n"], status="failed")
    report = write_sweep_summary(tmp_path)
    assert report.keys == ["hyp.lr0"] and report.failed == [str(tmp_path / "2")]
    with open(tmp_path / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["best"], r["job"], r["hyp.lr0"], r["status"]) for r in rows] == [
        ("*", "1", "0.02", "completed"), ("", "0", "0.01", "completed"), ("", "2", "0.03", "failed")]
    assert float(rows[0]["map"]) == 0.4 and rows[0]["best_epoch"] == "2"
    md = (tmp_path / "summary.md").read_text()
    assert md.splitlines()[2].startswith("| **best** | 1 | 0.02 | completed | 3/3 | 2 |")
    assert "| 2 | 0.03 | failed | 0/3 | - |" in md
    img = mpimg.imread(tmp_path / "compare.png")
    assert img.shape[0] > 300 and img.shape[1] > 1000
    # a re-run over the same folder (the callback does this after every job) is stable
    assert write_sweep_summary(tmp_path, plot=False).csv == report.csv
