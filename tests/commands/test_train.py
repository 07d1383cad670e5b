"""Failures inside a run: one line naming the file or key and the cause, a non-zero exit, the traceback in the log;
and warnings for settings that would otherwise pass silently. Also resume through real paths with any characters."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY, only_run, train


def run(cwd: Path, *args: str, script: str = "train.py") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def _yaml(tmp_path: Path, text: str) -> str:
    f = tmp_path / "data.yaml"
    f.write_text(text)
    return f"data.file={f}"


CASES = {
    "freeze beyond the model": (lambda t: ["freeze=[30]"], "freeze=[30]: the model has 25 layers (0..24)"),
    "empty data.yaml": (lambda t: [_yaml(t, "")], "is empty"),
    "malformed data.yaml": (lambda t: [_yaml(t, "train: [a\nval: b: c\n")], "is not valid YAML at line"),
    "data.yaml without train": (lambda t: [_yaml(t, "val: images\nnames: [a]\n")], "has no 'train:' entry"),
    "random bytes as weights": (lambda t: [f"weights={t / 'w.pt'}"], "not a zip archive"),
    "cache dir not writable": (lambda t: [f"cache_dir={t / 'w.pt' / 'cache'}"], "cannot write the demo dataset"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failure_inside_a_run_is_one_line_with_the_traceback_in_the_log(tmp_path, case):
    (tmp_path / "w.pt").write_bytes(os.urandom(2048))
    args, expected = CASES[case]
    proc = run(tmp_path, *TINY, "epochs=1", *args(tmp_path))
    line = error_line(proc)
    assert proc.returncode == 1 and expected in line, line
    folder = only_run(tmp_path)
    assert "Traceback" in (folder / "train.log").read_text()
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"


def test_unwritable_output_folder_is_one_line_before_hydra_starts(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    line = error_line(run(tmp_path, f"hydra.run.dir={tmp_path / 'file' / 'run'}"))
    assert f"{tmp_path / 'file'} is a file, not a folder" in line


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_val_task_test_without_test_split_is_refused(tmp_path):
    weights = tmp_path / "w.pt"
    train(tmp_path, *TINY, "epochs=1", f"hydra.run.dir={tmp_path / 'r'}")
    (tmp_path / "r" / "weights" / "best.pt").rename(weights)
    data = [o for o in TINY if o.startswith("data.")]
    line = error_line(run(tmp_path, f"weights={weights}", *data, "imgsz=64", "task=test", script="val.py"))
    assert "task=test: the data has no test split" in line


def test_diverging_loss_is_warned_about(tmp_path):
    proc = run(tmp_path, *TINY, "epochs=3", "hyp.lr0=1e6", "noval=true", "noplots=true")
    log = (only_run(tmp_path) / "train.log").read_text()
    assert "training is diverging; try a lower hyp.lr0 (now 1e+06)" in log, proc.stderr[-2000:]


@pytest.mark.slow  # ~25 s: three runs; the path quoting itself is unit-tested in tests/config
def test_resume_and_weights_through_paths_with_any_characters(tmp_path):
    """Non-ASCII and spaces in hydra.run.dir, resume and weights; the printed resume command works pasted."""
    folder = tmp_path / "über runs" / "r 1"
    train(tmp_path, *TINY, "epochs=1", f"hydra.run.dir={folder}", "keep_optimizer=true")
    weights = tmp_path / "é weights.pt"
    weights.write_bytes((folder / "weights" / "best.pt").read_bytes())
    train(tmp_path, f"resume={folder}", "epochs=2")
    assert json.loads((folder / "summary.json").read_text())["epochs_done"] == 2
    train(tmp_path, *TINY, "epochs=1", f"weights={weights}", f"hydra.run.dir={tmp_path / 'ü2'}")
    assert "Transferred" in (tmp_path / "ü2" / "train.log").read_text()
