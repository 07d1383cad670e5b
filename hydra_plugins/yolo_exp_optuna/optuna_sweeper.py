"""`python train.py -m hydra/sweeper=optuna hydra.sweeper.n_trials=N 'hyp.lr0=tag(log,interval(1e-4,1e-1))' ...`

A search over any config keys, in Hydra's sweep syntax on the command line or in ``hydra.sweeper.params`` (see
yolo_exp/sweep/search_space.py), on Optuna's ask/tell API. The study lives in ``storage`` (default: optuna.db in
the sweep folder), so several sweep processes (also on other machines, with a database URL) work on one study:
each asks ``n_jobs`` trials at a time, launches them as one batch of the configured launcher, and tells their
results, until the study holds ``n_trials`` finished, running or waiting trials. Trial N trains in the sweep
folder N; its job reports the objective every epoch and stops when the study's pruner says so (summary.json
status ``pruned``: not a failure). Rerunning the command resumes the study: finished trials are kept, trials of a
sweep process that died are failed and asked again in their own folder (their runs resume from last.pt). At the
end: optuna_history.png, optuna_importance.png, best_params.yaml (and experiment/best_params.yaml for
``experiment=best_params``).

Written over Optuna's own API because hydra-optuna-sweeper pins optuna<3. Imports nothing heavy at module level
(Hydra's plugin scan imports every plugin on every start), and no `from __future__ import annotations`.
"""

import fcntl
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import SweepStop

log = logging.getLogger(__name__)
MINIMISED = ("params", "wall_time_s")


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.yolo_exp_optuna.optuna_sweeper.OptunaSweeper"
    n_trials: int = 20                 # trials in the study, all sweep processes together
    n_jobs: int = 1                    # trials asked at a time: one launcher batch (a parallel launcher runs them)
    sampler: str = "tpe"               # tpe | random | cmaes | grid
    seed: Optional[int] = 0
    objectives: List[str] = field(default_factory=lambda: ["fitness"])  # summary.json: fitness, map50, map, ..., params
    directions: Optional[List[str]] = None  # per objective; null: maximise metrics, minimise params/wall_time_s
    storage: Optional[str] = None      # null: sqlite:///<sweep dir>/optuna.db; or postgresql://... to share
    study_name: Optional[str] = None   # null: the sweep folder's name
    pruner: str = "none"               # none | median | halving | hyperband
    pruner_args: Any = None  # e.g. {n_startup_trials: 2, n_warmup_steps: 1} (median)
    params: Any = None  # KEY: sweep syntax; the command line adds to it
    heartbeat_s: Optional[float] = 60  # liveness for other hosts: a trial silent for 3x this is re-asked
    schedule: str = "trials"           # trials | extend (successive halving by extension; one sweep process)
    rungs: Optional[List[int]] = None  # extend: epochs of each rung, e.g. [3, 9, 27]
    reduction_factor: int = 3          # extend: the best 1/reduction_factor of a rung go on to the next


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="yolo_exp")


class OptunaSweeper(Sweeper):
    def __init__(self, n_trials: int, n_jobs: int, sampler: str, seed: Optional[int], objectives: List[str],
                 directions: Optional[List[str]], storage: Optional[str], study_name: Optional[str], pruner: str,
                 pruner_args: Any, params: Any, heartbeat_s: Optional[float], schedule: str = "trials",
                 rungs: Optional[List[int]] = None, reduction_factor: int = 3) -> None:
        from yolo_exp.sweep.study import OBJECTIVE_KEYS

        if n_trials < 1 or n_jobs < 1:
            raise SweepStop("optuna: n_trials and n_jobs must be >= 1")
        unknown = [o for o in objectives if o not in OBJECTIVE_KEYS]
        if not objectives or unknown:
            raise SweepStop(f"hydra.sweeper.objectives={list(objectives)}: each one of "
                            f"{', '.join(OBJECTIVE_KEYS)}")
        directions = list(directions) if directions else \
            ["minimize" if o in MINIMISED else "maximize" for o in objectives]
        if len(directions) != len(objectives) or any(d not in ("maximize", "minimize") for d in directions):
            raise SweepStop(f"hydra.sweeper.directions={directions}: one of maximize|minimize per objective "
                            f"({len(objectives)})")
        self.n_trials, self.n_jobs, self.sampler, self.seed = n_trials, n_jobs, sampler, seed
        self.objectives, self.directions = list(objectives), directions
        self.storage, self.study_name, self.heartbeat_s = storage, study_name, heartbeat_s
        self.pruner = {"name": pruner, "args": dict(pruner_args or {})}
        self.params = dict(params or {})
        self.schedule, self.rungs, self.reduction_factor = schedule, list(rungs or []), reduction_factor
        if schedule not in ("trials", "extend"):
            raise SweepStop(f"hydra.sweeper.schedule={schedule!r}: expected trials or extend")
        if schedule == "extend":
            if not self.rungs or any(b <= a for a, b in zip(self.rungs, self.rungs[1:])) or self.rungs[0] < 1:
                raise SweepStop(f"hydra.sweeper.rungs={self.rungs}: schedule=extend needs increasing epoch "
                                "counts, e.g. [3,9,27]")
            if pruner != "none" or len(objectives) > 1 or reduction_factor < 2:
                raise SweepStop("schedule=extend: one objective, pruner=none (the rungs prune), "
                                "reduction_factor >= 2")
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None
        self.hydra_context: Optional[HydraContext] = None
        self.rdb: Any = None  # the study's storage

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def _open_study(self, sweep_dir: Path, space: Dict[str, Any]) -> Any:
        import optuna

        from yolo_exp.sweep.search_space import build_pruner, build_sampler
        from yolo_exp.sweep.study import default_storage, open_storage, storage_error

        build_pruner(self.pruner["name"], self.pruner["args"])  # a bad pruner fails here, before any trial
        url = self.storage or default_storage(sweep_dir)
        with open(sweep_dir / ".optuna.lock", "a") as lock:  # sweep processes starting together make it once
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                storage = open_storage(url, self.heartbeat_s)
                study = optuna.create_study(storage=storage, study_name=self.study_name or sweep_dir.name,
                                            sampler=build_sampler(self.sampler, self.seed, space),
                                            directions=self.directions, load_if_exists=True)
            except Exception as exc:  # noqa: BLE001 - SQLAlchemy's and drivers' errors: one line, the cause
                key = f"hydra.sweeper.storage={url}" + ("" if self.storage else " (the default)")
                raise SweepStop(f"{key}: cannot open the study: {storage_error(url, exc)}", status=1) from exc
        if [d.name.lower() for d in study.directions] != self.directions:
            raise SweepStop(f"optuna: study {study.study_name!r} in {url} has directions "
                            f"{[d.name.lower() for d in study.directions]}, not {self.directions}")
        for key, value in (("objectives", self.objectives), ("pruner", self.pruner), ("schedule", self.schedule)):
            if study.user_attrs.get(key, value) != value:
                raise SweepStop(f"optuna: study {study.study_name!r} in {url} was made with {key}="
                                f"{study.user_attrs[key]}, not {value}")
            study.set_user_attr(key, value)
        log.info("optuna: study %r in %s (%d trials so far)", study.study_name, url, len(study.trials))
        self.rdb = storage
        return study, url

    def sweep(self, arguments: List[str]) -> Any:
        from yolo_exp.sweep.search_space import params_overrides, parse_space

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        try:
            space, fixed = parse_space([*params_overrides(self.params), *arguments])
        except ValueError as exc:
            raise SweepStop(f"optuna: {exc}") from None
        if not space:
            raise SweepStop("optuna: nothing to search; give KEY=interval(a,b), choice(...) or range(...) on "
                            "the command line or in hydra.sweeper.params")
        study, url = self._open_study(sweep_dir, space)
        if self.schedule == "extend":
            returns = self._extend(study, space, fixed, url)
            self._finish(study, sweep_dir, [*fixed, f"epochs={self.rungs[-1]}"])  # the best trained to the end
            return returns
        returns: List[List[JobReturn]] = []
        while True:
            batch = self._ask(study, space, sweep_dir)
            if batch is None:
                break
            if batch:
                returns.append(self._run(study, batch, fixed, url))
        self._finish(study, sweep_dir, fixed)
        return returns

    def _ask(self, study: Any, space: Dict[str, Any], sweep_dir: Path) -> Optional[List[Any]]:
        """Up to n_jobs new trials; [] while only other processes' trials remain (wait), None when done."""
        from optuna.trial import TrialState

        from yolo_exp.sweep.search_space import suggest
        from yolo_exp.sweep.study import claim, live_numbers, quiet_optuna, reclaim_dead, within_budget

        with open(sweep_dir / ".optuna.lock", "a") as lock:  # one asker at a time on this host
            fcntl.flock(lock, fcntl.LOCK_EX)
            for number in reclaim_dead(study, heartbeat=bool(self.heartbeat_s)):
                log.warning("optuna: trial %d's sweep process is gone; asked again in its folder", number)
            wanted = min(self.n_jobs, self.n_trials - len(live_numbers(study)))
            if wanted <= 0:
                running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
                if running and self.heartbeat_s:  # other processes' trials: wait for them (or their staleness)
                    time.sleep(min(self.heartbeat_s, 10))
                    return []
                return None
            batch = []
            for _ in range(wanted):
                with quiet_optuna():
                    trial = self._ask_one(study, space)
                if not within_budget(study, trial.number, self.n_trials):  # another host asked at the same time
                    trial.set_user_attr("surplus", True)
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                values = suggest(trial, space)
                batch.append((claim(trial), trial, values))
            return batch

    def _ask_one(self, study: Any, space: Dict[str, Any]) -> Any:
        """A new trial, asked by a sampler seeded from the study's position, so a rerun continues the search."""
        from yolo_exp.sweep.search_space import trial_sampler
        from yolo_exp.sweep.study import position

        study.sampler = trial_sampler(self.sampler, self.seed, space, position(study))
        return study.ask()

    def _launch(self, study: Any, batch: List[Any], fixed: List[str], url: str,
                extra: Optional[Any] = None) -> List[Any]:
        """Run (folder, trial, values) jobs, consecutive folders as one launcher batch; (folder, trial, return).
        ``extra(folder)``: more overrides for that job."""
        from yolo_exp.config.quoting import hydra_quote
        from yolo_exp.sweep.search_space import override_value
        from yolo_exp.sweep.study import Heartbeat, consecutive_groups

        assert self.launcher is not None
        done: List[Any] = []
        # record_heartbeat takes Optuna's storage id of a trial, which Trial keeps as _trial_id
        with Heartbeat(self.rdb, [t._trial_id for _, t, _ in batch], self.heartbeat_s):
            for group in consecutive_groups([(folder, (trial, values)) for folder, trial, values in batch]):
                jobs = [fixed + [f"{k}={override_value(v)}" for k, v in values.items()]
                        + (extra(folder) if extra else [])
                        + [f"trial.storage={hydra_quote(url)}", f"trial.study={hydra_quote(study.study_name)}",
                           f"trial.number={trial.number}"] for folder, (trial, values) in group]
                self.validate_batch_is_legal(jobs)
                rets = list(self.launcher.launch(jobs, initial_job_idx=group[0][0]))
                done += [(folder, trial, ret) for (folder, (trial, _)), ret in zip(group, rets)]
        return done

    def _run(self, study: Any, batch: List[Any], fixed: List[str], url: str) -> List[JobReturn]:
        done = self._launch(study, batch, fixed, url)
        for folder, trial, ret in done:
            self._tell(study, trial, folder, ret)
        return [ret for _, _, ret in done]

    def _extend(self, study: Any, space: Dict[str, Any], fixed: List[str], url: str) -> List[List[JobReturn]]:
        """Successive halving by extension (yolo_exp.sweep.halving) over this process's trials: unfinished ones
        adopted after a kill, then new ones up to n_trials."""
        import optuna
        from optuna.trial import TrialState

        from yolo_exp.sweep.halving import Rungs, successive_halving
        from yolo_exp.sweep.search_space import suggest
        from yolo_exp.sweep.study import claim, quiet_optuna

        assert self.config is not None
        mine = []  # (folder, trial, values): unfinished trials (adopted after a kill), then new ones
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial = optuna.trial.Trial(study, frozen._trial_id)
            mine.append((claim(trial), trial, dict(frozen.params)))
        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        for _ in range(self.n_trials - finished - len(mine)):
            with quiet_optuna():
                trial = self._ask_one(study, space)
            mine.append((claim(trial), trial, suggest(trial, space)))
        rungs = Rungs(self.rungs, self.reduction_factor, self.directions[0] == "maximize", self.objectives,
                      Path(str(self.config.hydra.sweep.dir)))
        return successive_halving(study, mine, rungs,
                                  lambda jobs, extra: self._launch(study, jobs, fixed, url, extra))

    def _tell(self, study: Any, trial: Any, folder: int, ret: JobReturn) -> None:
        from optuna.trial import TrialState

        from yolo_exp.report.run_reader import read_run
        from yolo_exp.sweep.guard import job_failed
        from yolo_exp.sweep.study import objective_values

        run_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir)) if ret.hydra_cfg else None
        info = read_run(run_dir) if run_dir else {"status": "failed"}
        failed = ret.status != JobStatus.COMPLETED or job_failed(ret.return_value) or info["status"] == "failed"
        values = None if failed else objective_values(info, self.objectives)
        state = TrialState.PRUNED if info["status"] == "pruned" else TrialState.FAIL if values is None else None
        try:
            study.tell(trial, None if state else values, state=state)
        except (RuntimeError, ValueError) as exc:  # failed meanwhile as stale (a heartbeat missed under load)
            log.warning("optuna: trial %d (folder %d) not told: %s", trial.number, folder, exc)
            return
        if state == TrialState.PRUNED:
            log.info("optuna: trial %d (folder %d) pruned at epoch %s", trial.number, folder, info["epochs_done"])
        elif state == TrialState.FAIL:
            log.warning("optuna: trial %d (folder %d) failed", trial.number, folder)
        else:
            log.info("optuna: trial %d (folder %d): %s", trial.number, folder,
                     ", ".join(f"{k}={v:.5g}" for k, v in zip(self.objectives, values)))

    def _finish(self, study: Any, sweep_dir: Path, fixed: List[str]) -> None:
        from yolo_exp.sweep.study import plot_study, write_best_params

        assert self.config is not None
        groups = [k for k in OmegaConf.to_container(self.config.hydra.runtime.choices) if not k.startswith("hydra")]
        path = write_best_params(sweep_dir, study, groups, self.objectives, fixed)
        plot_study(study, sweep_dir, self.objectives)
        if path is not None:
            log.info("optuna: best parameters in %s; train with them: python train.py "
                     "'hydra.searchpath=[file://%s]' experiment=best_params", sweep_dir / "best_params.yaml",
                     sweep_dir.resolve())
