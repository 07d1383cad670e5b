"""Multi-process training under torchrun (2 CPU ranks, gloo): one run folder, equal weights, failures, restarts."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.engine.test_trainer import TINY
from yolo_exp.config.cli import QUIET_RANK, ddp_argv, resume_argv, run_entry
from yolo_exp.config.validate import ConfigError
from yolo_exp.engine.checkpoint import load_checkpoint
from yolo_exp.parallel import dist
from yolo_exp.report.results import read_results

ENTRY = ROOT / "tests" / "dist_entry.py"  # train.py, plus a fault injected on one rank when asked
# Fitness falls after epoch 0 (dist_entry), so with patience=2 every run stops early after epoch 2 of 4: the
# decision, taken on rank 0, must reach rank 1 or it would wait in epoch 3's gradient sync.
ARGS = [*TINY, "device=cpu", "epochs=4", "patience=2", "keep_optimizer=true", "noplots=true"]


def torchrun(cwd: Path, *args: str, restarts: int = 0, fault: str | None = None, timeout: float = 240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLO_EXP_TEST_FALLING_FITNESS": "1"}  # tmp cache: data made once
    env.pop("YOLO_EXP_TEST_FAULT", None)
    if fault:
        env["YOLO_EXP_TEST_FAULT"] = fault
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           f"--max-restarts={restarts}", str(ENTRY), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def only_run(cwd: Path) -> Path:
    runs = [p for p in (cwd / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    assert sorted(p.name for p in cwd.iterdir()) == ["outputs"]  # no stray files or folders from rank 1
    return runs[0]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> dict:
    """One uninterrupted 2-rank run; its results and weights are kept before any test changes the folder."""
    cwd = tmp_path_factory.mktemp("ddp") / "job"
    cwd.mkdir()
    proc = torchrun(cwd, *ARGS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = only_run(cwd)
    return {"cwd": cwd, "run": run, "log": proc.stderr + proc.stdout,
            "csv": (run / "results.csv").read_text(), "ckpt": load_checkpoint(run / "weights" / "last.pt")}


def test_two_ranks_train_one_model_in_one_folder(ddp_run):
    run = ddp_run["run"]
    assert run.parent.name == "ddp"  # outputs/ddp/<torchrun job id>
    assert "DDP: weights identical on all 2 ranks" in ddp_run["log"]
    assert (run / "train.log").read_text().count("Starting training") == 1  # rank 1 logs nothing
    assert (run / ".hydra" / "overrides.yaml").is_file() and len(list(run.glob("events.out.tfevents.*"))) == 1
    rows = read_results(run / "results.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2]  # early stop after epoch 2 of 4, on both ranks
    assert all(math.isfinite(v) for r in rows for v in r.values())
    assert all(r["train/box_loss"] > 0 and r["train/obj_loss"] > 0 for r in rows)


def test_ddp_run_resumes_in_a_single_process(ddp_run):
    """The checkpoint holds no rank-specific state, so a 2-rank run continues with another number of processes."""
    cwd, run = ddp_run["cwd"], ddp_run["run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # The run stopped early (completed), so continuing it is an extension: epochs=5.
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), f"resume={run}", "epochs=5"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert only_run(cwd) == run
    assert [r["epoch"] for r in read_results(run / "results.csv")][:4] == [0, 1, 2, 3]


def test_failure_on_one_rank_ends_the_job(tmp_path):
    cwd = tmp_path / "job"
    cwd.mkdir()
    t0 = time.monotonic()
    proc = torchrun(cwd, *ARGS, fault="raise:1:1", timeout=120)
    assert proc.returncode != 0
    assert time.monotonic() - t0 < 60
    assert "injected failure on rank 1 at epoch 1" in proc.stderr
    # the failing rank says it in one line (torchrun adds its own report): no traceback of the rank's code
    assert "error: rank 1: injected failure on rank 1 at epoch 1\n" in proc.stderr
    assert "yolo_exp/engine/trainer.py" not in proc.stderr


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_killed_rank_restarts_and_resumes_from_last_pt(tmp_path, ddp_run):
    """SIGKILL on rank 1 as epoch 1 starts; torchrun restarts both ranks and resume=auto continues the run folder.

    The continued run equals the uninterrupted one: same results.csv, bitwise-equal weights.
    """
    cwd = tmp_path / "job"
    cwd.mkdir()
    proc = torchrun(cwd, *ARGS, "resume=auto", restarts=1, fault="kill:1:1")
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = only_run(cwd)
    log = (run / "train.log").read_text()
    assert "resuming" in log and "after epoch 1 of 4" in log
    assert (run / "results.csv").read_text() == ddp_run["csv"]
    ckpt = load_checkpoint(run / "weights" / "last.pt")
    for key in ("model", "ema"):
        for k, v in ddp_run["ckpt"][key].items():
            assert torch.equal(ckpt[key][k], v), (key, k)


# ------------------------------------------------------------------------------------- command line, in-process
@pytest.fixture
def rank1(monkeypatch, tmp_path):
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "job7"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_ranks_agree_on_the_run_folder(rank1):
    assert ddp_argv(["epochs=3"], multirun=False) == ["epochs=3", "hydra.run.dir=outputs/ddp/job7"]
    assert ddp_argv(["hydra.run.dir=/x/y", "epochs=3"], multirun=False) == ["epochs=3", "hydra.run.dir=/x/y"]


def test_resume_auto_starts_fresh_then_resumes_the_job_folder(rank1):
    assert ddp_argv(["resume=auto"], multirun=False) == ["hydra.run.dir=outputs/ddp/job7"]
    weights = rank1 / "outputs" / "ddp" / "job7" / "weights"
    weights.mkdir(parents=True)
    (weights / "last.pt").touch()
    assert ddp_argv(["resume=auto", "epochs=3"], multirun=False) == ["epochs=3", "resume=outputs/ddp/job7"]


def test_torchrun_without_job_id_or_sweep_is_refused(rank1, monkeypatch):
    with pytest.raises(ConfigError, match="-m: sweeps cannot run under torchrun"):
        ddp_argv(["epochs=3"], multirun=True)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(ConfigError, match="--rdzv_id=NAME"):
        ddp_argv([], multirun=False)
    assert ddp_argv(["hydra.run.dir=runs/a"], multirun=False) == ["hydra.run.dir=runs/a"]


def test_other_ranks_write_nothing_and_batch_must_divide(rank1, monkeypatch, capsys):
    seen: list[list[str]] = []
    monkeypatch.setattr(sys, "argv", sys.argv)
    run_entry(lambda: seen.append(list(sys.argv)), ["train.py", "data=shapes", "batch_size=8"])
    assert seen == [["train.py", "data=shapes", "batch_size=8", "hydra.run.dir=outputs/ddp/job7", *QUIET_RANK]]
    with pytest.raises(SystemExit) as exc:
        run_entry(lambda: None, ["train.py", "batch_size=7"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: batch_size=7: must be a number divisible by the 2 training "
                                               "processes (the total batch is split evenly over them; AutoBatch is "
                                               "for one GPU)")


def test_one_process_under_torchrun_also_uses_the_job_folder(monkeypatch, tmp_path):
    """`torchrun --nproc_per_node=1 --max-restarts=K ... resume=auto` needs the job's folder as much as N ranks do."""
    for k, v in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "TORCHELASTIC_RUN_ID": "solo"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", sys.argv)
    seen: list[list[str]] = []
    run_entry(lambda: seen.append(list(sys.argv)), ["train.py", "resume=auto", "batch_size=7"])
    assert seen == [["train.py", "batch_size=7", "hydra.run.dir=outputs/ddp/solo"]]


def test_resume_accepts_the_runs_own_overrides(tmp_path):
    """An elastic restart replays the original command line: repeating an override is not a change."""
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "last.pt").touch()
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- imgsz=64\n- epochs=3\n")
    argv = resume_argv(["imgsz=64", "epochs=5", f"resume={run}"])
    assert argv[:2] == ["imgsz=64", "epochs=5"] and argv[2].startswith("resume=")
    with pytest.raises(ConfigError, match="refused: imgsz=96"):
        resume_argv(["imgsz=96", f"resume={run}"])


# ------------------------------------------------------------------------------------------ dist, one process
def test_single_process_helpers_are_no_ops():
    model = torch.nn.Linear(3, 2)
    assert dist.world_size() == 1 and dist.is_main()
    assert dist.global_max(torch.tensor(3)) == 3.0
    assert dist.from_main(("x", 1)) == ("x", 1)
    assert dist.wrap(model, torch.device("cpu"), sync_bn=True, log=None) is model
    with dist.main_first():
        pass


def test_weights_digest_sees_one_ulp():
    model = torch.nn.Linear(3, 2)
    before = dist.weights_digest(model)
    with torch.no_grad():
        model.weight[0, 0] = torch.nextafter(model.weight[0, 0], torch.tensor(2.0))
    assert dist.weights_digest(model) != before
