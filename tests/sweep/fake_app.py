"""A tiny Hydra app standing in for train.py in sweep tests: writes a run folder like the trainer does.

Its fitness is a smooth function of hyp.lr0 and hyp.momentum (best at lr0=0.02, momentum=0.9), so evolution
has something to climb; it raises when `x == fail_on`. Launched by the optuna sweeper (`trial.*` set) it reports
each epoch to its trial with the real TrialReporter and stops when pruned; `sleep_s` slows each epoch. Run it with `--config-path <conf dir>`; with
FAKE_APP_UNGUARDED=1 the task is not wrapped in `record_failures`, so a failure reaches Hydra as an exception.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from yolo_exp.report.summary import RunSummary
from yolo_exp.sweep.guard import record_failures

COLUMNS = ("epoch", "train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
           "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss",
           "x/lr0", "x/lr1", "x/lr2")


def score(lr0: float, momentum: float, x: float, seed: int) -> float:
    return max(0.0, 0.8 - 200 * (lr0 - 0.02) ** 2 - (momentum - 0.9) ** 2 - 0.01 * x + 0.001 * seed)


def trial_reporter(cfg: DictConfig, run_dir: Path) -> Any:
    """The real job-side reporter of an Optuna trial, when the optuna sweeper launched this job."""
    if cfg.get("trial") is None or cfg.trial.study is None:
        return None
    from yolo_exp.engine.callbacks import RunStart
    from yolo_exp.sweep.trial import TrialReporter

    reporter = TrialReporter(cfg.trial.storage, cfg.trial.study, cfg.trial.number)
    reporter.on_run_start(RunStart(run_dir, {}, {}, [], resumed=False))
    return reporter


def task(cfg: DictConfig) -> float:
    from yolo_exp.engine.callbacks import EpochEnd

    hc = HydraConfig.get()
    run = RunSummary(hc.runtime.output_dir, list(hc.overrides.task), dict(hc.runtime.choices), {"fake": "1"})
    run.start(cfg.epochs)
    if cfg.x == cfg.fail_on:
        raise ValueError(f"x={cfg.x} is broken")
    reporter = trial_reporter(cfg, run.run_dir)
    final = score(cfg.hyp.lr0, cfg.hyp.momentum, cfg.x, cfg.seed)
    lines = [",".join(f"{c:>20s}" for c in COLUMNS)]
    best, stopped = {}, None
    for epoch in range(cfg.epochs):
        time.sleep(float(cfg.get("sleep_s", 0)))
        m = final * (epoch + 1) / cfg.epochs
        metrics = {"metrics/precision": m, "metrics/recall": m, "metrics/mAP_0.5": m, "metrics/mAP_0.5:0.95": m}
        loss = 1.0 - m
        values = (epoch, loss, loss, loss, m, m, m, m, loss, loss, loss, cfg.hyp.lr0, cfg.hyp.lr0, cfg.hyp.lr0)
        lines.append(",".join(f"{v:20.5g}" for v in values))
        best = metrics
        run.epoch_end(epoch, metrics, m, epoch, dict(metrics, fitness=m))
        if reporter is not None:
            event = EpochEnd(epoch, cfg.epochs, dict(zip(COLUMNS, values)), {"fitness": m}, epoch)
            reporter.on_epoch_end(event)
            if event.stop:
                stopped = event.stop
                break
    (run.run_dir / "results.csv").write_text("\n".join(lines) + "\n")
    run.finish("pruned" if stopped else "completed", stopped=stopped)
    return best["metrics/mAP_0.5:0.95"]


main = hydra.main(version_base="1.3", config_path=None, config_name="config")(
    task if os.environ.get("FAKE_APP_UNGUARDED") == "1" else record_failures(task))

if __name__ == "__main__":
    main()
