"""Builders for synthetic run folders laid out as the trainer and Hydra write them (for reader tests)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import yaml

ROOT = Path(__file__).resolve().parents[2]
FAKE_APP = Path(__file__).with_name("fake_app.py")
HEADER = ("epoch", "train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
          "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss",
          "x/lr0", "x/lr1", "x/lr2")


def write_results(run_dir: Path, rows: Sequence[Sequence[float]], header: Sequence[str] = HEADER) -> None:
    """results.csv in YOLOv5's fixed-width layout (%20s / %20.5g, leading spaces)."""
    lines = [",".join(f"{h:>20s}" for h in header)]
    lines += [",".join(f"{v:20.5g}" for v in row) for row in rows]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.csv").write_text("\n".join(lines) + "\n")


def curve(final_map: float, epochs: int = 3) -> list[list[float]]:
    """Rows with all 14 columns; mAP@0.5:0.95 rising to final_map, mAP@0.5 = 1.5x."""
    rows = []
    for e in range(epochs):
        m = final_map * (e + 1) / epochs
        rows.append([e, 1 - m, 1 - m, 1 - m, m, m, 1.5 * m, m, 1 - m, 1 - m, 1 - m, 0.01, 0.01, 0.01])
    return rows


def make_run(run_dir: Path, overrides: Sequence[str], status: str | None = "completed",
             best_map: float | None = None, choices: dict | None = None, pid: int | None = None) -> Path:
    """A run folder: .hydra/{overrides,hydra}.yaml, results.csv (if best_map) and summary.json (if status)."""
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    (hydra_dir / "hydra.yaml").write_text(yaml.safe_dump(
        {"hydra": {"runtime": {"choices": choices or {"model": "yolov5n", "hyp": "scratch-low",
                                                      "hydra/sweeper": "basic"}}}}))
    if best_map is not None:
        write_results(run_dir, curve(best_map))
    if status is not None:
        m = best_map
        best = {"precision": m, "recall": m, "map50": m and 1.5 * m, "map": m,
                "fitness": m and 0.15 * m + 0.9 * m}
        summary = {"status": status, "best_epoch": 2 if best_map else None, "best": best, "final": best,
                   "epochs_done": 3 if best_map else 0, "epochs": 3, "wall_time_s": 10.0,
                   "overrides": list(overrides), "pid": pid or os.getpid(), "host": os.uname().nodename,
                   "error": {"type": "ValueError", "message": "boom"} if status == "failed" else None}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def dead_pid() -> int:
    """The pid of a process that has already exited."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(out.stdout)


def write_fake_conf(conf_dir: Path, sweep_dir: Path) -> Path:
    """The fake app's own config tree: hyp group + the sweep summary callback."""
    (conf_dir / "hyp").mkdir(parents=True, exist_ok=True)
    (conf_dir / "hyp" / "base.yaml").write_text("lr0: 0.01\nmomentum: 0.937\nfliplr: 0.5\niou_t: 0.2\n")
    (conf_dir / "config.yaml").write_text(yaml.safe_dump({
        "defaults": [{"hyp": "base"}, "_self_"], "x": 1, "fail_on": -1, "seed": 0, "epochs": 3, "sleep_s": 0,
        "resume": None, "keep_optimizer": False,
        "trial": {"storage": None, "study": None, "number": None},
        "hydra": {"job": {"chdir": False}, "run": {"dir": str(sweep_dir.parent / "run")},
                  "sweep": {"dir": str(sweep_dir), "subdir": "${hydra.job.num}"},
                  "callbacks": {"sweep_summary": {"_target_": "yolo_exp.sweep.callback.SweepSummaryCallback"}}},
    }, sort_keys=False))
    return conf_dir


def run_fake_app(conf_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, str(FAKE_APP), "--config-path", str(conf_dir), *args],
                          capture_output=True, text=True, env=environ, cwd=conf_dir.parent, timeout=300)
