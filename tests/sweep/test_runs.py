"""Finding run folders in any mix of paths and labelling them by what differs."""
from __future__ import annotations

import pytest

from tests.sweep.runfolders import make_run
from yolo_exp.sweep.runs import differing_keys, find_runs, load_run, parse_overrides, run_label


def test_find_runs_mixes_sweeps_and_single_runs(tmp_path):
    sweep = tmp_path / "multirun" / "2026-01-01" / "10-00-00_train"
    for n in (0, 1, 2, 10):
        make_run(sweep / str(n), [f"seed={n}"])
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / "hyp").mkdir()  # evolve's hyp/ folder is not a run
    single = make_run(tmp_path / "outputs" / "2026-01-02" / "09-00-00_train", [])
    (single / "weights").mkdir()
    runs = find_runs([sweep, single, sweep / "1"])  # the repeated job is listed once
    assert [r.name for r in runs] == ["0", "1", "2", "10", single.name]
    assert find_runs([tmp_path / "outputs"]) == [single]
    with pytest.raises(FileNotFoundError):
        find_runs([tmp_path / "nope"])


def test_params_differ_and_label(tmp_path):
    a = load_run(make_run(tmp_path / "a", ["hyp.lr0=0.01", "+tag=x"], choices={"model": "yolov5n"}))
    b = load_run(make_run(tmp_path / "b", ["hyp.lr0=0.02", "model=yolov5s"], choices={"model": "yolov5s"}))
    assert a.params == {"model": "yolov5n", "hyp.lr0": "0.01", "tag": "x"}
    keys = differing_keys([a, b])
    assert keys == ["model", "hyp.lr0", "tag"]
    assert run_label(b, keys) == "model=yolov5s hyp.lr0=0.02"
    assert run_label(a, []) == "a"
    assert parse_overrides(["~hyp.anchors", "++x=1=2"]) == {"hyp.anchors": "~", "x": "1=2"}
