"""summary.json lifecycle and the tolerant reader."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sweep.runfolders import dead_pid, write_results
from yolo_exp.files.owner import claim, release
from yolo_exp.report.run_reader import read_results_csv, read_run
from yolo_exp.report.summary import RunSummary, fitness_of


def _summary(tmp_path: Path) -> RunSummary:
    return RunSummary(tmp_path, ["hyp.lr0=0.02"], {"model": "yolov5n"}, {"torch": "2.x"})


def test_start_writes_running_at_once(tmp_path):
    s = _summary(tmp_path)
    s.start(epochs=3)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["status"] == "running" and data["epochs"] == 3 and data["epochs_done"] == 0
    assert data["overrides"] == ["hyp.lr0=0.02"] and data["choices"] == {"model": "yolov5n"}
    assert data["started"] and data["ended"] is None
    assert read_run(tmp_path)["status"] == "interrupted"  # nobody holds the folder
    claim(tmp_path, "train")
    try:
        assert read_run(tmp_path)["status"] == "running"  # this process holds it
    finally:
        release(tmp_path)
    assert not list(tmp_path.glob("*.yolo_exp-tmp"))  # atomic write left no temp file


def test_epoch_end_and_finish(tmp_path):
    s = _summary(tmp_path)
    s.start(epochs=2)
    m = {"metrics/precision": 0.5, "metrics/recall": 0.4, "metrics/mAP_0.5": 0.3, "metrics/mAP_0.5:0.95": 0.2}
    s.epoch_end(0, m, fitness=0.21, best_epoch=0, best=dict(m, fitness=0.21))
    data = json.loads(s.path.read_text())
    assert data["epochs_done"] == 1 and data["best_epoch"] == 1  # counted from 1, as the log
    assert data["final"] == {"precision": 0.5, "recall": 0.4, "map50": 0.3, "map": 0.2, "fitness": 0.21}
    s.epoch_end(1, {"precision": 0.1, "recall": 0.1, "map50": 0.1, "map": float("nan")},
                fitness=0.09, best_epoch=0, best=m)
    data = json.loads(s.path.read_text())
    assert data["final"]["map"] is None  # NaN is not JSON: stored as null
    assert data["best"]["fitness"] == pytest.approx(0.1 * 0.3 + 0.9 * 0.2)  # computed when not given
    s.finish()
    data = read_run(tmp_path)
    assert data["status"] == "completed" and data["ended"] and data["wall_time_s"] >= 0
    with pytest.raises(ValueError):
        s.finish("weird")


def test_fail_writes_traceback(tmp_path):
    s = _summary(tmp_path)
    s.start(epochs=5)
    try:
        raise RuntimeError("CUDA out of memory")
    except RuntimeError as exc:
        s.fail(exc)
    data = read_run(tmp_path)
    assert data["status"] == "failed"
    assert data["error"]["type"] == "RuntimeError" and data["error"]["message"] == "CUDA out of memory"
    tb = Path(data["error"]["traceback"]).read_text()
    assert tb.startswith("Traceback") and "test_fail_writes_traceback" in tb


def test_running_with_dead_process_reads_as_interrupted(tmp_path):
    s = _summary(tmp_path)
    s.start(epochs=5)
    data = json.loads(s.path.read_text())
    data["pid"] = dead_pid()  # a process that has exited
    s.path.write_text(json.dumps(data))
    got = read_run(tmp_path)
    assert got["status"] == "interrupted" and "process gone" in got["status_note"]


def test_read_run_without_summary_uses_hydra_and_results(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- hyp.lr0=0.01\n- seed=1\n")
    (tmp_path / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    choices:\n      model: yolov5s\n      hyp: scratch-low\n")
    write_results(tmp_path, [[0, 1, 1, 1, 0.1, 0.1, 0.2, 0.10, 1, 1, 1, 0.01, 0.01, 0.01],
                             [1, 1, 1, 1, 0.3, 0.2, 0.5, 0.30, 1, 1, 1, 0.01, 0.01, 0.01],
                             [2, 1, 1, 1, 0.2, 0.2, 0.4, 0.25, 1, 1, 1, 0.01, 0.01, 0.01]])
    got = read_run(tmp_path)
    assert got["status"] == "unknown" and got["epochs_done"] == 3
    assert got["overrides"] == ["hyp.lr0=0.01", "seed=1"] and got["choices"]["model"] == "yolov5s"
    assert got["best_epoch"] == 2 and got["best"]["map"] == pytest.approx(0.3)
    assert got["final"]["fitness"] == pytest.approx(0.1 * 0.4 + 0.9 * 0.25)


def test_read_run_of_empty_folder(tmp_path):
    got = read_run(tmp_path)
    assert got["status"] == "unknown" and got["overrides"] == [] and got["best"]["fitness"] is None


def test_results_csv_strips_padding_and_tolerates_missing_columns(tmp_path):
    write_results(tmp_path, [[0, 0.5], [1, 0.25]], header=("epoch", "metrics/mAP_0.5"))
    cols = read_results_csv(tmp_path / "results.csv")
    assert cols == {"epoch": [0.0, 1.0], "metrics/mAP_0.5": [0.5, 0.25]}
    assert read_results_csv(tmp_path / "nope.csv") == {}
    assert fitness_of({"map50": 0.5}) is None


def test_short_metrics_accept_the_trainers_names():
    from yolo_exp.report.summary import short_metrics

    out = short_metrics({"precision": 0.5, "recall": 0.4, "map50": 0.3, "map": 0.2}, fitness=0.21)
    assert out == {"precision": 0.5, "recall": 0.4, "map50": 0.3, "map": 0.2, "fitness": 0.21}


def test_each_segment_of_training_keeps_its_data_and_a_resume_says_what_changed(tmp_path):
    """summary.json kept only the last segment's fingerprint, and a resume on other data said nothing."""
    seen = {"train": {"fingerprint": "aaaa", "images": 16, "boxes": 40},
            "val": {"fingerprint": "bbbb", "images": 8, "boxes": 20}}
    first = _summary(tmp_path)
    first.start(epochs=3)
    assert first.data_segment(seen) is None  # a fresh start has nothing to compare with
    first.epoch_end(0, {"map50": 0.1, "map": 0.05}, 0.06, 0, {"map50": 0.1, "map": 0.05})
    first.finish("interrupted")

    same = _summary(tmp_path)
    same.start(epochs=3, resume=True)
    assert same.data_segment(seen) is None
    same.epoch_end(1, {"map50": 0.1, "map": 0.05}, 0.06, 0, {"map50": 0.1, "map": 0.05})
    same.finish("interrupted")

    grown = {"train": {"fingerprint": "cccc", "images": 18, "boxes": 45},
             "val": {"fingerprint": "dddd", "images": 8, "boxes": 20}}  # relabelled: same counts
    again = _summary(tmp_path)
    again.start(epochs=3, resume=True)
    assert again.data_segment(grown) == ("the data changed since the run resumed after epoch 1: train 16 -> 18 "
                                         "images, 40 -> 45 boxes; val labels or files changed (8 images)")
    again.finish("completed")
    segments = json.loads((tmp_path / "summary.json").read_text())["segments"]
    assert [(s["epoch"], s["data"]["train"]["fingerprint"]) for s in segments] == [(0, "aaaa"), (1, "aaaa"),
                                                                                   (2, "cccc")]
