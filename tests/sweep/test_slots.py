"""Parallel sweeps: every job its own slot (GPU, share of the cores), and a real 4-job sweep 2 at a time."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.readme import readme_commands
from tests.sweep.test_readme_sweeps import SMALL
from yolo_exp.sweep.slots import acquire_slot, slot_for


@pytest.mark.parametrize("gpus, n_jobs", [(4, 4), (8, 4), (2, 2)])
def test_slots_map_to_distinct_gpus(gpus, n_jobs):
    assert sorted(slot_for(i, n_jobs, gpus, 16).gpu for i in range(n_jobs)) == list(range(n_jobs))


def test_multi_gpu_jobs_get_their_own_gpus():
    """device.gpus=2 jobs under the parallel launcher: each slot its own pair, not GPUs 0 and 1 for every job."""
    assert [slot_for(i, 4, 8, 16, per_job=2).gpus for i in range(4)] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert slot_for(1, 2, 8, 16, per_job=3).gpus == [3, 4, 5] and slot_for(1, 2, 8, 16, per_job=3).gpu == 3
    assert slot_for(0, 2, 0, 16, per_job=2).gpus is None  # no GPUs: a CPU slot


def test_cpu_cores_are_shared_out():
    assert [slot_for(0, n, 0, 16).threads for n in (1, 2, 4, 16, 32)] == [16, 8, 4, 1, 1]
    assert slot_for(3, 4, 0, 16).gpu is None


def test_a_freed_slot_is_taken_again_and_held_ones_never(tmp_path):
    held = [acquire_slot(tmp_path, 3) for _ in range(3)]
    assert [h.index for h in held] == [0, 1, 2]
    held[1].close()  # job in slot 1 ends first
    again = acquire_slot(tmp_path, 3)
    assert again.index == 1
    again.close()
    assert acquire_slot(tmp_path, 3, prefer=2).index == 1  # 2 is held: the free one
    held[2].close()
    kept = acquire_slot(tmp_path, 3, prefer=2)  # a reused worker gets its own GPU back when it is free
    assert kept.index == 2
    for h in (held[0], kept):
        h.close()


@pytest.mark.slow  # the default suite's time (CI budget)
def test_readme_parallel_sweep_with_loader_workers(tmp_path):
    """The README's parallel command as written (4 jobs at once, default loader workers: 1 each on 2 cores),
    shrunk to 1 epoch on 16 images."""
    command = next(c for c in readme_commands("python train.py -m hydra/launcher=parallel"))
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *command[2:], *SMALL, f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(sweep / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    slots = [line for line in proc.stderr.splitlines() if ": slot " in line]
    n_jobs = int(next(w for w in command if w.startswith("hydra.launcher.n_jobs=")).split("=")[1])
    assert len(slots) == 4 and all(f" of {n_jobs}, CPU, " in line for line in slots)
    for job in range(4):
        assert json.loads((sweep / str(job) / "summary.json").read_text())["status"] == "completed"
        log = (sweep / str(job) / "train.log").read_text()
        assert "Run folder" in log and re.search(r"; [1-9]\d* dataloader workers", log)
