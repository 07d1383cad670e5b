"""The sweep summary callback and failure handling, through a real Hydra multirun of a fake app."""
from __future__ import annotations

import csv
import json

import pytest

from tests.sweep.runfolders import run_fake_app, write_fake_conf


@pytest.fixture
def app(tmp_path):
    return write_fake_conf(tmp_path / "conf", tmp_path / "sweep"), tmp_path / "sweep"


def _rows(sweep):
    with open(sweep / "summary.csv") as fh:
        return list(csv.DictReader(fh))


def test_failed_job_recorded_and_sweep_goes_on(app):
    conf, sweep = app
    proc = run_fake_app(conf, "-m", "x=1,2,3", "fail_on=2")
    assert proc.returncode == 1, proc.stderr
    assert "1 of 3 jobs failed: 1" in proc.stderr
    assert "Sweep summary" in proc.stdout and "| **best** | 0 | 1 | completed |" in proc.stdout
    rows = _rows(sweep)
    assert [(r["job"], r["x"], r["status"]) for r in rows] == [("0", "1", "completed"), ("2", "3", "completed"),
                                                               ("1", "2", "failed")]
    failed = json.loads((sweep / "1" / "summary.json").read_text())
    assert failed["error"]["type"] == "ValueError" and failed["error"]["message"] == "x=2 is broken"
    assert "ValueError: x=2 is broken" in (sweep / "1" / "traceback.txt").read_text()
    assert (sweep / "compare.png").stat().st_size > 10_000 and (sweep / "summary.md").is_file()


def test_unguarded_task_failure_still_recorded(app):
    """A task that raises stops Hydra's sweep at the end of the batch; its folder and the summary still say so."""
    conf, sweep = app
    proc = run_fake_app(conf, "-m", "x=1,2", "fail_on=2", env={"FAKE_APP_UNGUARDED": "1"})
    assert proc.returncode == 1 and "x=2 is broken" in proc.stderr
    assert [(r["job"], r["status"]) for r in _rows(sweep)] == [("0", "completed"), ("1", "failed")]
    assert (sweep / "1" / "traceback.txt").is_file()


def test_all_ok_exits_zero_and_single_run_untouched(app, tmp_path):
    conf, sweep = app
    proc = run_fake_app(conf, "-m", "seed=0,1")
    assert proc.returncode == 0, proc.stderr
    assert [r["seed"] for r in _rows(sweep)] == ["1", "0"]  # sorted by fitness
    single = run_fake_app(conf, "fail_on=1")  # a single run re-raises: Hydra's usual non-zero exit
    assert single.returncode == 1 and "x=1 is broken" in single.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"
    assert not (tmp_path / "run" / "summary.csv").exists()
