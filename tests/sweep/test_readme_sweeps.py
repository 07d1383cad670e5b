"""The README's sweep commands, as written, shrunk by appended overrides (1 epoch, 16 images at 64 px, 2 trials):
the loader workers, launchers and sweepers stay at their defaults. The parallel one runs in the default suite
(tests/sweep/test_slots.py); the rest are slow."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.readme import readme_commands

SMALL = ["epochs=1", "data.shapes.n_train=16", "data.shapes.n_val=8", "data.shapes.img_size=96", "imgsz=64",
         "batch_size=8", "hyp.warmup_epochs=0.5", "noplots=true"]
SEARCH = {"hydra/sweeper=evolve": ["hydra.sweeper.generations=1", "hydra.sweeper.population=2"],
          "hydra.sweeper.schedule=extend": ["hydra.sweeper.n_trials=2", "hydra.sweeper.rungs=[1,2]"],
          "hydra/sweeper=optuna": ["hydra.sweeper.n_trials=2"]}


def shrunk(command: list[str]) -> list[str]:
    """The command's overrides, then ours (later values win in Hydra)."""
    extra = next((v for k, v in SEARCH.items() if k in command), [])
    return [*command[2:], *SMALL, *extra]


def run_readme(command: list[str], cwd: Path, sweep: Path | None = None, shrink: bool = True):
    args = (shrunk(command) if shrink else command[2:]) + ([f"hydra.sweep.dir={sweep}"] if sweep else [])
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1200)


def summary_rows(sweep: Path) -> list[dict]:
    with open(sweep / "summary.csv") as fh:
        return list(csv.DictReader(fh))


def test_the_readme_has_the_sweep_commands_we_run():
    commands = [" ".join(c) for c in readme_commands("python train.py -m")]
    assert len(commands) >= 7 and any("hydra/launcher=parallel" in c for c in commands)
    assert any("hydra/launcher=slurm" in c for c in commands) and any("hydra/sweeper=optuna" in c for c in commands)


SLURM = [c for c in readme_commands("python train.py -m") if "hydra/launcher=slurm" in c]


@pytest.mark.parametrize("command", SLURM, ids=[str(i) for i in range(len(SLURM))])
def test_readme_slurm_commands_without_slurm_fail_in_one_line(command, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun/sbatch here (also on a machine that has them)
    proc = run_readme(command, tmp_path, tmp_path / "sweep", shrink=False)  # it stops before any training
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert proc.stderr.startswith("error: hydra/launcher=slurm: ") and "srun" in proc.stderr
    assert "submitit_local" in proc.stderr and not (tmp_path / "sweep").exists()


OTHERS = [c for c in readme_commands("python train.py -m")
          if not any(k in c for k in ("hydra/launcher=slurm", "hydra/launcher=parallel"))]


@pytest.mark.slow
@pytest.mark.parametrize("command", OTHERS, ids=[str(i) for i in range(len(OTHERS))])
def test_readme_sweep_commands_as_written(command, tmp_path):
    named = next((w.split("=", 1)[1] for w in command if w.startswith("hydra.sweep.dir=")), None)
    sweep = tmp_path / named if named else tmp_path / "sweep"
    proc = run_readme(command, tmp_path, None if named else sweep)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary_rows(sweep)
    assert rows and {r["status"] for r in rows} <= {"completed", "pruned"}
    if "hydra/sweeper=evolve" in command:
        assert (sweep / "evolve.csv").is_file() and (sweep / "hyp" / "hyp_evolve.yaml").is_file()
    if "hydra/sweeper=optuna" in command:
        assert (sweep / "optuna.db").is_file() and (sweep / "best_params.yaml").is_file()
    if named:  # the README's rerun: the sweep resumes, its completed jobs left as they are
        again = run_readme(command, tmp_path)
        assert again.returncode == 0 and summary_rows(sweep) == rows, again.stderr[-3000:]
