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


def test_columns_say_what_the_sweep_varies_from_the_first_job_on(tmp_path):
    """epochs once (done/total) when it is an override; an optional group left off is blank, not None; the
    swept keys (multirun.yaml) are columns already when only job 0 has finished."""
    import yaml

    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"overrides": {"task": ["hyp.lr0=0.05,0.01", "epochs=4", "model=yolov5n"]}}}))
    choices = {"model": "yolov5n", "debug": None, "hydra/sweeper": "basic"}
    make_run(tmp_path / "0", ["hyp.lr0=0.05", "epochs=4", "model=yolov5n"], best_map=0.2, choices=choices)
    first = write_sweep_summary(tmp_path, plot=False)
    assert first.keys == ["hyp.lr0"] and first.rows[0]["hyp.lr0"] == "0.05"
    make_run(tmp_path / "1", ["hyp.lr0=0.01", "epochs=5", "model=yolov5n"], best_map=0.4,
             choices={**choices, "debug": "fast"})
    report = write_sweep_summary(tmp_path, plot=False)
    header = (tmp_path / "summary.md").read_text().splitlines()[0]
    assert header.count("epochs") == 1 and report.keys == ["hyp.lr0", "debug"]
    assert [r["debug"] for r in report.rows] == ["fast", ""] and "None" not in (tmp_path / "summary.md").read_text()
    assert [r["epochs"] for r in report.rows] == ["3/3", "3/3"]  # the progress column, not overwritten


def test_runs_of_several_sweeps_are_named_by_their_folders(tmp_path):
    from yolo_exp.sweep.summary import summarize

    for sweep, lr, data in (("a", "0.01", "x"), ("b", "0.02", "y")):
        for job in ("0", "1"):
            make_run(tmp_path / sweep / job, [f"hyp.lr0={lr}", f"seed={job}"], best_map=0.1 + float(lr))
            path = tmp_path / sweep / job / "summary.json"
            info = __import__("json").loads(path.read_text())
            path.write_text(__import__("json").dumps({**info, "provenance": {"data": {"train": data}}}))
    report = summarize([tmp_path / "a", tmp_path / "b"])
    assert sorted(r["job"] for r in report.rows) == ["a/0", "a/1", "b/0", "b/1"]
    assert report.warnings == ["the runs saw different data (2 versions: 1: a/0, a/1; 2: b/0, b/1)"]
    assert "| a/0 |" in report.markdown
