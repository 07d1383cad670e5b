"""A 4-trial TPE study with a median pruner training on the shapes data: the trainer reports each epoch to its
trial and a trial that falls behind stops cleanly (last.pt, status pruned), which is not a failure."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT
from yolo_exp.engine.checkpoint import load_checkpoint

# 64 images at 96 px learn a little in one epoch (fitness > 0); val.conf_thres=0.99 keeps no box, so its fitness
# is 0 at every epoch: once a trial with 0.001 has finished, a 0.99 trial is below the median and is pruned.
# TPE's first draws are random; with seed 0 (each trial's sampler seeded from it and the trials so far) they are
# 0.99, 0.001, 0.001, 0.99: trial 3 must be pruned (trial 0 is the pruner's startup trial).
DATA = ["data.shapes.n_train=64", "data.shapes.n_val=16", "data.shapes.img_size=96", "imgsz=96", "batch_size=16",
        "workers=0", "hyp.warmup_epochs=0.5", "noplots=true"]


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_median_pruner_stops_a_trial_that_falls_behind(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4",
           "hydra.sweeper.seed=0", "hydra.sweeper.pruner=median",
           "hydra.sweeper.pruner_args={n_startup_trials:1,n_warmup_steps:0}", *DATA, "epochs=3",
           "val.conf_thres=choice(0.001,0.99)", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}")
    states = {t.number: t.state for t in study.trials}
    pruned = [n for n, s in states.items() if s == TrialState.PRUNED]
    assert len(states) == 4 and pruned == [3], states
    for t in study.trials:
        run = sweep / str(t.number)
        summary = json.loads((run / "summary.json").read_text())
        assert len(t.intermediate_values) == summary["epochs_done"]  # one report per validated epoch
        if t.number in pruned:
            assert t.params["val.conf_thres"] == 0.99 and summary["status"] == "pruned"
            assert summary["epochs_done"] < 3 and "median pruner" in summary["stopped"]["reason"]
            ckpt = load_checkpoint(run / "weights" / "last.pt")
            assert ckpt["final"] and ckpt["stopped"]["status"] == "pruned"  # a resume keeps it pruned
        else:
            assert summary["status"] == "completed" and summary["epochs_done"] == 3
            assert t.value == summary["best"]["fitness"]
    rows = {r["job"]: r["status"] for r in csv.DictReader(open(sweep / "summary.csv"))}
    assert [rows[str(n)] for n in pruned] == ["pruned"] * len(pruned)


@pytest.mark.slow  # the fake-app study (test_optuna_sweeper) covers the extension logic in the default suite
def test_successive_halving_extends_the_best_runs_in_place(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
           "hydra.sweeper.schedule=extend", "hydra.sweeper.rungs=[1,2]", "hydra.sweeper.reduction_factor=2", *DATA,
           "hyp.lr0=interval(0.001,0.05)", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}")
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    for t in study.trials:
        run = sweep / str(t.number)
        rows = list(csv.DictReader(open(run / "results.csv")))
        summary = json.loads((run / "summary.json").read_text())
        if t.state == TrialState.COMPLETE:  # trained 1 epoch, then extended to 2 in the same folder
            assert len(rows) == 2 and summary["status"] == "completed" and summary["epochs"] == 2
            assert "extending the run from 1 to 2 epochs" in (run / "train.log").read_text()
            assert t.value == summary["best"]["fitness"] and set(t.intermediate_values) == {0, 1}
        else:
            assert len(rows) == 1 and summary["status"] == "pruned"
            assert load_checkpoint(run / "weights" / "last.pt")["epoch"] == 0
    summary_rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert "resume" not in summary_rows[0]  # the sweeper's own bookkeeping is not a parameter
