"""One owner per run folder: an OS lock held for a process's life (never a pid), and no command writes into a folder
that holds another command's run or another run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY, train
from yolo_exp.config.cli import run_entry
from yolo_exp.config.validate import ConfigError
from yolo_exp.files.owner import LOCK_FILE, claim, in_use, owner_record, release, run_command

HOLDER = "import sys, time; from yolo_exp.files.owner import claim; claim(sys.argv[1], 'train'); print('held', flush=True); " \
         "time.sleep(60)"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def hold(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == b"held"
    return proc


def test_the_lock_is_exclusive_and_goes_with_the_process(tmp_path):
    holder = hold(tmp_path)
    try:
        assert in_use(tmp_path) and owner_record(tmp_path)["pid"] == holder.pid
        with pytest.raises(ConfigError, match=rf"in use by another process \(train.py pid {holder.pid} on ") as info:
            claim(tmp_path, "train")
        assert "\n" not in str(info.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not in_use(tmp_path)  # killed: the kernel dropped the lock, whatever its pid is now used for
    claim(tmp_path, "val")
    try:
        assert in_use(tmp_path) and owner_record(tmp_path)["pid"] == os.getpid()
    finally:
        release(tmp_path)


def fake_train_run(folder: Path) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"config_name": "config"}}}))
    (folder / ".hydra" / "config.yaml").write_text("epochs: 3\n")
    (folder / "config_resolved.yaml").write_text("epochs: 3\n")
    (folder / "metrics.json").write_text("{}\n")
    (folder / "train_batch0.jpg").write_bytes(b"jpg")
    (folder / "weights").mkdir()
    (folder / "weights" / "best.pt").write_bytes(b"pt")
    return folder


@pytest.mark.parametrize("command, args", [("val", []), ("predict", ["source=img.jpg"]),
                                           ("export", ["format=onnx"])])
def test_other_commands_refuse_a_training_run_folder_before_writing(tmp_path, monkeypatch, capsys, command, args):
    run = fake_train_run(tmp_path / "run")
    assert run_command(run) == "train"
    before = snapshot(run)
    monkeypatch.setattr(sys, "argv", sys.argv)
    started = []
    with pytest.raises(SystemExit) as exc:
        run_entry(lambda: started.append(1), [f"{command}.py", f"weights={run / 'weights' / 'best.pt'}", *args,
                                              f"hydra.run.dir={run}"], config_name=command)
    assert exc.value.code == 2 and not started
    err = capsys.readouterr().err.strip()
    assert err == f"error: {run}: holds a train.py run; it is never overwritten: choose another hydra.run.dir / " \
                  "hydra.sweep.dir"
    assert snapshot(run) == before and not (run / LOCK_FILE).exists()


def test_an_earlier_run_of_the_same_command_and_a_val_folder_for_train_are_refused(tmp_path, monkeypatch, capsys):
    weights = fake_train_run(tmp_path / "run") / "weights" / "best.pt"
    val_dir = tmp_path / "val"
    (val_dir / ".hydra").mkdir(parents=True)
    (val_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"config_name": "val"}}}))
    monkeypatch.setattr(sys, "argv", sys.argv)
    for argv, config, said in (
            (["val.py", f"weights={weights}"], "val", "holds an earlier val.py run"),
            (["train.py", "epochs=1"], "config", "holds a val.py run")):
        with pytest.raises(SystemExit):
            run_entry(lambda: None, [*argv, f"hydra.run.dir={val_dir}"], config_name=config)
        assert said in capsys.readouterr().err
    assert not (val_dir / LOCK_FILE).exists()


@pytest.mark.slow  # the default suite's time (CI budget)
def test_a_second_process_on_a_run_folder_is_refused_and_changes_nothing(tmp_path):
    """Two train.py on one folder (or a resume= beside a running one) used to both train (results.csv rows
    0,0,1,1). The first is frozen (SIGSTOP) once its first epoch is committed: alive, holding the folder."""
    run = tmp_path / "run"
    args = [*TINY, "epochs=2", f"hydra.run.dir={run}"]
    first = train(tmp_path, *args, wait=False)
    deadline = time.time() + 240
    while not (run / "weights" / "last.pt").is_file():
        assert first.poll() is None and time.time() < deadline, first.stderr.read()
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    try:
        before = snapshot(run)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        others = [subprocess.Popen([sys.executable, str(ROOT / "train.py"), *a], cwd=tmp_path, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in (args, [f"resume={run}"])]
        for proc in others:
            err = proc.communicate(timeout=120)[1]
            assert proc.returncode == 2, err[-2000:]
            assert err.strip() == f"error: {run}: in use by another process (train.py pid {first.pid} on " \
                                  f"{os.uname().nodename}); nothing was changed", err
        assert snapshot(run) == before
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def test_a_sweep_job_whose_folder_is_taken_is_left_to_its_owner(tmp_path):
    """A rerun sweep (or a second one on the same folder) must not train a job that another process is running."""
    holder = hold(tmp_path / "sweep" / "0")
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *TINY, "epochs=1",
                               f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
        said = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        assert said == [f"error: {tmp_path / 'sweep' / '0'}: in use by another process (train.py pid {holder.pid} on "
                        f"{os.uname().nodename}); this job is left to it"], proc.stderr[-2000:]
        assert not (tmp_path / "sweep" / "0" / "summary.json").exists()  # nothing trained, nothing recorded
        assert owner_record(tmp_path / "sweep" / "0")["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
