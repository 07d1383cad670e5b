"""A sweep rerun with the same command and hydra.sweep.dir finishes what is left: completed jobs are not retrained,
a killed job resumes exactly, the rest run; a folder holding another config's run is refused untouched."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY, only_run, train
from yolo_exp.files.owner import LOCK_FILE
from yolo_exp.report.run_reader import read_results_csv

SWEEP = [*TINY, "epochs=2", "hyp.lr0=0.01,0.02,0.03"]


def sweep(sweep_dir: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLO_EXP_TEST_KILL": kill_at}
    return subprocess.run([sys.executable, str(ROOT / "tests" / "kill_entry.py"), "-m", *args,
                           f"hydra.sweep.dir={sweep_dir}"], cwd=sweep_dir.parent, env=env, capture_output=True,
                          text=True, timeout=900)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime; Hydra's own record (.hydra/) is rewritten by Hydra, with the same bytes, and the
    lock file names its latest owner."""
    return {str(p): (p.read_bytes(), 0 if ".hydra" in p.parts else p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and p.name != LOCK_FILE}


@pytest.mark.slow  # the default suite's time (CI budget)
def test_killed_sweep_rerun_skips_done_jobs_and_resumes_the_killed_one(tmp_path):
    out = tmp_path / "sweep"
    # Job 0 writes last.pt 3 times (2 epochs, then the strip); the 4th write is job 1's first epoch.
    killed = sweep(out, *SWEEP, kill_at="write:last.pt:4")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert json.loads((out / "0" / "summary.json").read_text())["status"] == "completed"
    assert not (out / "2").exists()
    job0 = snapshot(out / "0")

    proc = sweep(out, *SWEEP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(out / "0") == job0  # not retrained, not rewritten (its weights' mtime unchanged)
    assert "resuming" in (out / "1" / "train.log").read_text()
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"completed"}

    ref = tmp_path / "ref"
    ref.mkdir()
    train(ref, *TINY, "epochs=2", "hyp.lr0=0.02")  # job 1 uninterrupted
    assert (out / "1" / "results.csv").read_text() == (only_run(ref) / "results.csv").read_text()


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_folder_of_another_config_is_refused_untouched(tmp_path):
    run_dir = tmp_path / "run"
    train(tmp_path, *TINY, "epochs=1", f"hydra.run.dir={run_dir}")
    before = snapshot(run_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "epochs=1", "hyp.lr0=0.02",
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "holds the run of another config (hyp.lr0" in proc.stderr, proc.stderr[-2000:]
    # the same command again: its own completed run, left as it is
    again = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "epochs=1", f"hydra.run.dir={run_dir}"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "completed; left as it is" in again.stderr
    assert snapshot(run_dir) == before


@pytest.mark.slow
def test_evolve_generation_cut_off_is_finished_in_its_own_folders(tmp_path):
    out = tmp_path / "evolve"
    args = ["hydra/sweeper=evolve", "hydra.sweeper.generations=1", "hydra.sweeper.population=2",
            "hydra.sweeper.keys=[lr0]", *TINY, "epochs=2"]
    killed = sweep(out, *args, kill_at="write:last.pt:4")  # inside job 1, after job 0 completed
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    job0 = snapshot(out / "0")
    proc = sweep(out, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(out / "0") == job0 and "resuming" in (out / "1" / "train.log").read_text()
    assert read_results_csv(out / "evolve.csv")["job"] == [0, 1]
    assert not (out / "2").exists()


def test_an_interpolated_sweep_folder_of_another_config_is_refused_untouched(tmp_path):
    """hydra.sweep.dir=.../${name}: resolved as Hydra will, and its job folders checked before anything is written."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tests.sweep.runfolders import make_run
    from yolo_exp.config.store import register_configs
    from yolo_exp.files.paths import CONF_DIR

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="t"):
        other = compose("config", overrides=[*TINY, "epochs=1", "name=mine", "hyp.lr0=0.5"])
    job0 = make_run(tmp_path / "sweeps" / "mine" / "0", ["hyp.lr0=0.5"], best_map=0.2)
    (job0 / "config_resolved.yaml").write_text(OmegaConf.to_yaml(other, resolve=True))
    before = snapshot(job0)
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *TINY, "epochs=1", "name=mine",
                           "hyp.lr0=0.01,0.02", f"hydra.sweep.dir={tmp_path}/sweeps/${{name}}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "holds the run of another config (hyp.lr0" in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and snapshot(job0) == before
    assert sorted(p.name for p in job0.parent.iterdir()) == ["0"]
