"""The kill harness: SIGKILL at the events a run writes, then resume until completed; the run must end exactly as
an uninterrupted one (results.csv, final weights, summary) with no stray files."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY, only_run, train
from yolo_exp.engine.checkpoint import load_checkpoint

ENTRY = ROOT / "tests" / "kill_entry.py"
ARGS = [*TINY, "epochs=2"]
FAST = ["tmp:last.pt:1"]  # the default suite: a cut first checkpoint write; the slow tier kills at every other event
SLOW = ["strip:best.pt:1", "validate:final:1", "write:last.pt:2", "write:last.pt:1", "tmp:last.pt:2", "write:best.pt:1", "results:2", "strip:last.pt:1", "tmp:last.pt:3",
        "write:last.pt:3"]


def stopped_run(cwd: Path, event: str, sig: str = "KILL", args=ARGS, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLO_EXP_TEST_KILL": event, "YOLO_EXP_TEST_SIGNAL": sig,
           **env_extra}
    return subprocess.run([sys.executable, str(ENTRY), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def killed_run(cwd: Path, event: str) -> Path:
    proc = stopped_run(cwd, event)
    assert proc.returncode == -signal.SIGKILL, (event, proc.returncode, proc.stderr[-2000:])
    return only_run(cwd)


def files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and "tfevents" not in p.name}


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    train(cwd, *ARGS)
    return only_run(cwd)


def check_kill_then_resume(cwd: Path, event: str, reference: Path, run: Path | None = None) -> None:
    run = run or killed_run(cwd, event)
    summary = json.loads((run / "summary.json").read_text())
    if summary["status"] == "running":  # killed: its pid may be a live process's by now (containers reuse pids)
        (run / "summary.json").write_text(json.dumps({**summary, "pid": os.getpid()}))
    train(cwd, f"resume={run}")  # one resume finishes any stopped run
    summary = json.loads((run / "summary.json").read_text())
    expected = json.loads((reference / "summary.json").read_text())
    assert summary["status"] == "completed", event
    for key in ("epochs_done", "best_epoch", "best", "final"):
        assert summary[key] == expected[key], (event, key)
    assert (run / "results.csv").read_text() == (reference / "results.csv").read_text(), event
    for name in ("last.pt", "best.pt"):
        ours, ref = weights(run / "weights" / name), weights(reference / "weights" / name)
        assert ours.keys() == ref.keys() and all(torch.equal(ours[k], ref[k]) for k in ref), (event, name)
        assert load_checkpoint(run / "weights" / name).get("stripped"), (event, name)
    assert files(run) == files(reference), event  # plots, metrics.json, nothing stray (no .tmp)


@pytest.mark.parametrize("event", FAST)
def test_killed_at_an_event_then_resumed_equals_an_uninterrupted_run(tmp_path, reference, event):
    check_kill_then_resume(tmp_path, event, reference)


@pytest.mark.slow
@pytest.mark.parametrize("event", SLOW)
def test_killed_at_every_other_event(tmp_path, reference, event):
    check_kill_then_resume(tmp_path, event, reference)


@pytest.mark.parametrize("event, sig", [("validate:final:1", "INT"),
                                        pytest.param("write:last.pt:1", "INT2", marks=pytest.mark.slow)])
def test_ctrl_c_stops_at_once_without_traceback_and_resume_finishes(tmp_path, reference, event, sig):
    """One Ctrl-C in the final validation stops there (it used to run to the end); a second Ctrl-C while the
    first is being handled prints no traceback either. The resume command printed works as it is."""
    proc = stopped_run(tmp_path, event, sig)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    run = only_run(tmp_path)
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    command = next(line.strip() for line in (run / "train.log").read_text().splitlines()
                   if line.strip().startswith("python ") and " resume=" in line)
    assert shlex.split(command)[1].endswith("train.py")  # the program as it was run (here by its full path)
    assert shlex.split(command)[2:] == [f"resume={run}"]
    check_kill_then_resume(tmp_path, event, reference, run=run)


@pytest.mark.slow
def test_early_stopped_run_killed_while_finishing_is_only_finished(tmp_path):
    """Patience stops the run after epoch 1 of 3; killed in its strip, the resume must finish it, not train on."""
    args = [*TINY, "epochs=3", "patience=1"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    ref.mkdir(), cut.mkdir()
    assert stopped_run(ref, "", args=args, YOLO_EXP_TEST_FALLING_FITNESS="1").returncode == 0
    reference = only_run(ref)
    proc = stopped_run(cut, "strip:last.pt:1", args=args, YOLO_EXP_TEST_FALLING_FITNESS="1")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    check_kill_then_resume(cut, "strip:last.pt:1", reference, run=only_run(cut))
    assert json.loads((reference / "summary.json").read_text())["epochs_done"] == 2
