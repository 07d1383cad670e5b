"""The job's side of an Optuna trial: per-epoch objective to the trial, and a stop when the study's pruner says so.

Built by the job (commands/train.py) when the optuna sweeper set ``trial.*``. The pruner is rebuilt from the study's
record (``study.user_attrs["pruner"]``): Optuna does not store pruners, and the job may run in another process or
on another machine. A database problem never fails the training: one warning, and the run goes on unpruned.
"""
from __future__ import annotations

import logging
import math
from typing import Any

from yolo_exp.report.run_reader import read_results_csv
from yolo_exp.report.summary import fitness_of, short_metrics

LOG = logging.getLogger("yolo_exp.train")


def open_trial(storage: str, study_name: str, number: int) -> tuple[Any, Any, Any]:
    """(study with its pruner, trial, its record so far) for trial ``number`` of a study in ``storage``."""
    import optuna

    from yolo_exp.sweep.search_space import build_pruner

    storage_ = optuna.storages.get_storage(storage)
    spec = optuna.load_study(study_name=study_name, storage=storage_).user_attrs.get("pruner") or {"name": "none"}
    study = optuna.load_study(study_name=study_name, storage=storage_,
                              pruner=build_pruner(spec["name"], spec.get("args")))
    frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if frozen is None:
        raise LookupError(f"study {study_name!r} has no trial {number}")
    return study, optuna.trial.Trial(study, frozen._trial_id), frozen  # Optuna's own handle on a running trial


class TrialReporter:
    """Reports the study's objective each validated epoch (step = epoch) and stops the run when it is pruned."""

    def __init__(self, storage: str, study: str, number: int) -> None:
        self.where = (storage, study, int(number))
        self.trial: Any = None
        self.objective, self.pruner = "fitness", "none"
        self.weights: dict[str, float] | None = None
        self.reported: set[int] = set()  # steps the trial already holds

    def _off(self, exc: BaseException) -> None:
        LOG.warning("optuna trial %d: reporting off for this run (%s: %s); training goes on", self.where[2],
                    type(exc).__name__, exc)
        self.trial = None

    def on_run_start(self, run: Any) -> None:
        try:
            study, self.trial, frozen = open_trial(*self.where)
            self.reported = set(frozen.intermediate_values)
            if len(study.directions) > 1:  # Optuna prunes single-objective studies only
                self.trial = None
                return
            self.objective = (study.user_attrs.get("objectives") or ["fitness"])[0]
            self.pruner = (study.user_attrs.get("pruner") or {}).get("name", "none")
            self.weights = dict(run.config.get("fitness") or {}) or None
            if run.resumed:  # a retried or extended trial: its epochs so far count too (once each)
                history = read_results_csv(run.run_dir / "results.csv")
                for i, epoch in enumerate(history.get("epoch", [])):
                    self._report({k: v[i] for k, v in history.items() if i < len(v)}, int(epoch))
        except Exception as exc:  # noqa: BLE001 - the tracker of a search must not fail the training
            self._off(exc)

    def _value(self, metrics: dict[str, float]) -> float | None:
        short = short_metrics(metrics)
        if self.objective == "fitness" and self.weights:
            return fitness_of(short, self.weights)
        value = short.get(self.objective)
        return value if value is not None and math.isfinite(value) else None

    def _report(self, metrics: dict[str, float], epoch: int) -> None:
        value = self._value(metrics)
        if value is not None and self.trial is not None and epoch not in self.reported:
            self.trial.report(value, epoch)
            self.reported.add(epoch)

    def on_epoch_end(self, event: Any) -> None:
        if self.trial is None or not event.metrics:
            return
        try:
            self._report(event.row, event.epoch)
            if self.trial.should_prune():
                event.request_stop(f"pruned by the study's {self.pruner} pruner (trial {self.where[2]})", "pruned")
        except Exception as exc:  # noqa: BLE001
            self._off(exc)
