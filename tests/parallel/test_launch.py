"""DDP from one command: `train.py device=cpu device.processes=2` starts its two gloo processes itself and trains
what `torchrun --standalone --nproc_per_node=2 train.py` trains, in one run folder, and resumes the same way."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY
from yolo_exp.config.cli import device_sugar
from yolo_exp.engine.checkpoint import load_checkpoint
from yolo_exp.report.results import read_results

# loader workers at their default (2): each DDP process starts its own, as a user's first try does
ARGS = [*(a for a in TINY if not a.startswith("workers=")), "device=cpu", "epochs=1", "noplots=true"]


def run(cwd: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "weights" / "last.pt")["model"]


def launched_run(tmp_path: Path) -> Path:
    ours = tmp_path / "one"
    proc = run(tmp_path, str(ROOT / "train.py"), *ARGS, "device.processes=2", f"hydra.run.dir={ours}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "(2 DDP processes, gloo)" in proc.stdout + proc.stderr
    log = (ours / "train.log").read_text()
    assert "DDP: weights identical on all 2 ranks" in log and log.count("Starting training") == 1
    assert [r["epoch"] for r in read_results(ours / "results.csv")] == [0]
    return ours


def test_one_command_starts_its_processes_in_one_run_folder(tmp_path):
    launched_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one"]  # nothing beside the run folder


@pytest.mark.slow
def test_one_command_trains_what_torchrun_trains_and_resumes_so(tmp_path):
    """One test, not a shared fixture: the parallel test runner would build a fixture once per worker."""
    ours = launched_run(tmp_path)
    proc = run(tmp_path, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "train.py"), *ARGS, f"hydra.run.dir={tmp_path / 'torchrun'}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    a, b = weights(ours), weights(tmp_path / "torchrun")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    proc = run(tmp_path, str(ROOT / "train.py"), f"resume={ours}", "epochs=2")  # the run's own processes again
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "(2 DDP processes, gloo)" in proc.stdout + proc.stderr
    assert [r["epoch"] for r in read_results(ours / "results.csv")] == [0, 1]


def test_refusals_are_one_line(tmp_path):
    proc = run(tmp_path, str(ROOT / "train.py"), *ARGS, "device.processes=3")  # batch 8 over 3 processes
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: batch_size=8: must be")
    proc = run(tmp_path, str(ROOT / "train.py"), *ARGS, "device.gpus=2")
    assert proc.returncode == 2 and "device.gpus=2: needs device=cuda" in proc.stderr
    assert not (tmp_path / "outputs").exists()  # refused before Hydra made a folder


def test_device_list_is_the_gpus():
    assert device_sugar(["device=0,1", "epochs=3"]) == ["device=cuda", "device.gpus=[0,1]", "epochs=3"]
    assert device_sugar(["device=2"]) == ["device=cuda", "device.index=2"]
    assert device_sugar(["device=cpu", "device.index=1"]) == ["device=cpu", "device.index=1"]


@pytest.mark.slow
def test_each_sweep_job_is_one_multi_process_run(tmp_path):
    proc = run(tmp_path, str(ROOT / "train.py"), "-m", *ARGS, "epochs=1", "device.processes=2",
               "hyp.lr0=0.01,0.02", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    for job in ("0", "1"):
        log = (tmp_path / "sweep" / job / "train.log").read_text()
        assert "DDP: weights identical on all 2 ranks" in log
    assert (tmp_path / "sweep" / "summary.csv").is_file() or (tmp_path / "sweep" / "summary.md").is_file()
