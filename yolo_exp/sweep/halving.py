"""Successive halving by extension, for the Optuna sweeper (``hydra.sweeper.rungs=[...]``).

Every trial trains rungs[0] epochs; the best 1/reduction_factor are extended in place (resume=FOLDER
epochs=rungs[k]; keep_optimizer=true keeps the extension exact) and the rest are pruned where they stand. The study
keeps each trial's value per rung (user attribute ``value<k>``) and the rung it was promoted to (``rung``), so a
rerun after a kill goes on from there. A job is (sweep folder number, optuna Trial, its parameter values).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from yolo_exp.config.quoting import hydra_quote
from yolo_exp.report.run_reader import read_run
from yolo_exp.report.summary import mark_pruned
from yolo_exp.sweep.study import objective_values

log = logging.getLogger(__name__)
Job = tuple[int, Any, dict]
# launch(jobs, extra): run the jobs (extra(folder): more overrides for one) -> [(folder, trial, JobReturn)]
Launch = Callable[[list[Job], Callable[[int], list[str]]], list[tuple[int, Any, Any]]]


@dataclass(frozen=True)
class Rungs:
    epochs: Sequence[int]      # epochs of each rung
    reduction_factor: int      # 1/reduction_factor of a rung's trials go on to the next
    maximize: bool
    objectives: Sequence[str]
    sweep_dir: Path


def rung_overrides(k: int, epochs: int, sweep_dir: Path) -> Callable[[int], list[str]]:
    """A job's overrides at rung k: its epochs, and from rung 1 on, the resume of its own folder."""
    def extra(folder: int) -> list[str]:
        resume = [f"resume={hydra_quote(str((sweep_dir / str(folder)).resolve()))}"] if k else []
        return [f"epochs={epochs}", "keep_optimizer=true", *resume]
    return extra


def successive_halving(study: Any, jobs: list[Job], rungs: Rungs, launch: Launch) -> list[list[Any]]:
    """Run the rungs over ``jobs``; the JobReturns of each rung."""
    from optuna.trial import TrialState

    def attrs(job: Job) -> dict[str, Any]:
        return next(t.user_attrs for t in study.get_trials(deepcopy=False) if t.number == job[1].number)

    returns: list[list[Any]] = []
    for k, epochs in enumerate(rungs.epochs):
        current = [job for job in jobs if attrs(job).get("rung", 0) >= k]
        todo = [job for job in current if f"value{k}" not in attrs(job)]
        done = launch(todo, rung_overrides(k, epochs, rungs.sweep_dir))
        for folder, trial, ret in done:
            info = read_run(Path(str(ret.hydra_cfg.hydra.runtime.output_dir))) if ret.hydra_cfg else {}
            values = objective_values(info, rungs.objectives) if info.get("status") != "failed" else None
            trial.set_user_attr(f"value{k}", values[0] if values else None)
        returns.append([ret for _, _, ret in done])
        alive = [job for job in current if attrs(job).get(f"value{k}") is not None]
        for job in current:
            if job not in alive:
                study.tell(job[1], state=TrialState.FAIL)
                log.warning("optuna: trial %d (folder %d) failed at rung %d", job[1].number, job[0], k)
        if k == len(rungs.epochs) - 1:
            for job in alive:
                study.tell(job[1], [attrs(job)[f"value{k}"]])
            break
        jobs = _promote(study, alive, k, rungs, attrs)
    return returns


def _promote(study: Any, alive: list[Job], k: int, rungs: Rungs, attrs: Callable[[Job], dict]) -> list[Job]:
    """The best of rung k go on (those promoted before a kill stay promoted); the others are pruned."""
    from optuna.trial import TrialState

    keep = [job for job in alive if attrs(job).get("rung", 0) > k]  # promoted before a kill
    if not keep:
        sign = 1 if rungs.maximize else -1
        ranked = sorted(alive, key=lambda job: -sign * attrs(job)[f"value{k}"])
        keep = ranked[:max(1, -(-len(alive) // rungs.reduction_factor))]
        for job in keep:
            job[1].set_user_attr("rung", k + 1)
    epochs = rungs.epochs[k]
    for job in alive:
        if job not in keep:
            mark_pruned(rungs.sweep_dir / str(job[0]), f"not promoted after rung {k} ({epochs} epochs)")
            study.tell(job[1], state=TrialState.PRUNED)
    log.info("optuna: rung %d (%d epochs): %d trials, %d extended to %d epochs", k, epochs, len(alive),
             len(keep), rungs.epochs[k + 1])
    return keep
