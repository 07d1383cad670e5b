"""Hydra callback: keep the sweep folder's summary current after each job, print it and set the exit status.

Enable it in the primary config:

    hydra:
      callbacks:
        sweep_summary:
          _target_: yolo_exp.sweep.callback.SweepSummaryCallback

Hydra turns exceptions raised by callbacks into warnings, so a failed sweep is reported with SystemExit(1)
(`exit_on_failure: false` turns that off). A job that raised is also marked failed in its folder here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from yolo_exp.report.run_reader import read_run
from yolo_exp.report.summary import write_failure
from yolo_exp.sweep.guard import job_failed

log = logging.getLogger(__name__)


def _is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return config.hydra.mode == RunMode.MULTIRUN


class SweepSummaryCallback(Callback):
    def __init__(self, exit_on_failure: bool = True, plot: bool = True) -> None:
        self.exit_on_failure = exit_on_failure
        self.plot = plot

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        if job_return.status == JobStatus.FAILED and read_run(run_dir)["status"] != "failed":
            write_failure(run_dir, job_return._return_value)
        if not _is_multirun(config):
            return
        from yolo_exp.sweep.summary import write_sweep_summary

        try:  # refreshed per job, so a sweep that aborts still leaves a current summary
            write_sweep_summary(config.hydra.sweep.dir, plot=self.plot)
        except Exception as exc:  # noqa: BLE001 - a summary problem must not fail the job
            log.warning("sweep summary not updated: %s: %s", type(exc).__name__, exc)
        if job_return.status == JobStatus.COMPLETED and job_failed(job_return.return_value):
            log.warning("job %s failed (see %s)", config.hydra.job.num, run_dir / "traceback.txt")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from yolo_exp.sweep.summary import write_sweep_summary

        sweep_dir = Path(config.hydra.sweep.dir)
        report = write_sweep_summary(sweep_dir, plot=self.plot)
        print(f"\nSweep summary ({sweep_dir}):\n{report.markdown}"
              f"Curves: {sweep_dir / 'compare.png'}; TensorBoard: tensorboard --logdir {sweep_dir}", flush=True)
        if report.failed and self.exit_on_failure:
            raise SystemExit(f"{len(report.failed)} of {len(report.rows)} jobs failed: "
                             + ", ".join(Path(p).name for p in report.failed)
                             + f" (see their traceback.txt; summary in {sweep_dir / 'summary.md'})")
