"""A real 2x2 multirun of train.py (1 epoch on the tiny embedded dataset), summarised and compared."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from tests.sweep.runfolders import ROOT
from yolo_exp.sweep.summary import summarize

TINY = ["epochs=1", "data.shapes.n_train=16", "data.shapes.n_val=8", "imgsz=64", "batch_size=8", "model=yolov5n",
        "workers=0"]
CALLBACK = "++hydra.callbacks.sweep_summary._target_=yolo_exp.sweep.callback.SweepSummaryCallback"


@pytest.mark.slow  # the default suite's time (CI budget)
def test_train_2x2_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "train.py", "-m", *TINY, "hyp.lr0=0.01,0.02", "seed=0,1",
                           f"hydra.sweep.dir={sweep}", CALLBACK], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(sweep / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert {(r["hyp.lr0"], r["seed"]) for r in rows} == {("0.01", "0"), ("0.01", "1"), ("0.02", "0"), ("0.02", "1")}
    assert sum(r["best"] == "*" for r in rows) == 1 and (sweep / "compare.png").is_file()
    for job in range(4):
        data = json.loads((sweep / str(job) / "summary.json").read_text())
        assert data["status"] == "completed" and data["epochs_done"] == 1
        assert list((sweep / str(job)).glob("events.out.tfevents.*"))
    grouped = summarize([sweep], aggregate=True)
    assert [r["n"] for r in grouped.rows] == [2, 2] and grouped.keys == ["hyp.lr0"]
