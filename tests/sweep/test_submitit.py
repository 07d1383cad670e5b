"""Sweeps through submitit's local executor (the SLURM launcher's twin on one machine): a 2-job sweep, a job warned
of its end (submitit's USR2) saves, is requeued and continues exactly, and a 2-task job is one DDP run."""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

from tests.conftest import ROOT  # noqa: E402
from tests.engine.test_trainer import TINY, only_run, train  # noqa: E402
from tests.sweep.test_readme_sweeps import SMALL  # noqa: E402

LOCAL = ["-m", "hydra/launcher=submitit_local", "device=cpu"]


def sweep(sweep_dir: Path, *args: str, wait: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "train.py"), *LOCAL, *args, f"hydra.sweep.dir={sweep_dir}"]
    if not wait:
        return subprocess.Popen(cmd, cwd=sweep_dir.parent, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(cmd, cwd=sweep_dir.parent, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def statuses(sweep_dir: Path) -> list[str]:
    with open(sweep_dir / "summary.csv") as fh:
        return [r["status"] for r in csv.DictReader(fh)]


@pytest.mark.slow  # the default suite's time (CI budget)
def test_two_job_sweep_on_submitit_with_loader_workers(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, *SMALL, "hyp.lr0=0.01,0.02")  # default workers
    assert statuses(out) == ["completed", "completed"]
    assert re.search(r"; [1-9]\d* dataloader workers", (out / "0" / "train.log").read_text())


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_job_warned_by_the_cluster_saves_is_requeued_and_continues_exactly(tmp_path):
    out = tmp_path / "sweep"
    args = [*TINY, "data.shapes.n_train=32", "epochs=4"]
    proc = sweep(out, *args, wait=False)
    summary, results = out / "0" / "summary.json", out / "0" / "results.csv"
    t0 = time.time()
    while not (results.is_file() and len(results.read_text().splitlines()) >= 2):  # epoch 0 recorded
        assert time.time() - t0 < 300 and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.02)
    os.kill(json.loads(summary.read_text())["pid"], signal.SIGUSR2)  # what SLURM sends before the time limit
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    log = (out / "0" / "train.log").read_text()
    assert "SIGUSR2 from the cluster: saving weights/last.pt" in log and "resuming" in log
    assert statuses(out) == ["completed"]

    ref = tmp_path / "ref"
    ref.mkdir()
    train(ref, *args, "device=cpu")
    assert results.read_text() == (only_run(ref) / "results.csv").read_text()


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_two_tasks_form_one_ddp_run_in_one_folder(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, *TINY, "epochs=2", "hydra.launcher.tasks_per_node=2")
    assert statuses(out) == ["completed"] and sorted(p.name for p in out.iterdir() if p.name.isdigit()) == ["0"]
    log = (out / "0" / "train.log").read_text()
    assert "DDP: weights identical on all 2 ranks" in log
    assert len((out / "0" / "results.csv").read_text().splitlines()) == 3
