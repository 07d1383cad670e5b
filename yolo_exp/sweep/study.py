"""The sweeper's side of an Optuna study: storage, trial bookkeeping, objective values and the study's files.

A study is shared by every sweep process that names the same storage and study: trials are asked and told
through the database, each trial's job runs in the sweep folder ``<trial's folder number>``, and a trial whose
sweep process died is failed and asked again with the same parameters in the same folder (so its run resumes
from last.pt). Dead processes on this host are seen at once (pid); on other hosts through Optuna's heartbeats.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.metrics.fitness import MASK_METRICS, METRICS
from yolo_exp.report.summary import pid_alive

LOG = logging.getLogger(__name__)
OBJECTIVE_KEYS = ("fitness", *METRICS, *MASK_METRICS, "params", "wall_time_s")  # mask_*: segmentation runs


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{(Path(sweep_dir) / 'optuna.db').resolve()}"


def open_storage(url: str, heartbeat_s: float | None) -> Any:
    """RDB storage; sqlite waits for a writer instead of failing (jobs and sweepers write to one file)."""
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if heartbeat_s:
        kwargs.update(heartbeat_interval=int(max(1, heartbeat_s)), grace_period=int(max(2, 3 * heartbeat_s)))
    with quiet_optuna():
        if heartbeat_s:  # a stale trial is asked again with its parameters and user attributes (its folder)
            if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
                kwargs["heartbeat_stale_trial_callback"] = optuna.storages.RetryHeartbeatStaleTrialCallback()
            else:
                kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback()
        return optuna.storages.RDBStorage(url, **kwargs)


def storage_error(url: str, exc: BaseException) -> str:
    """The cause of a storage that cannot be opened, in a few words: no SQL, no links, no traceback."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme or type(exc).__name__ in ("NoSuchModuleError", "ArgumentError"):
        what = f"unknown URL scheme {scheme!r}" if scheme else "not a database URL"
        return f"{what} (sqlite:///PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB)"
    if scheme.startswith("sqlite") and ":///" in url:
        folder = Path(url.split(":///", 1)[1]).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).split("\n", 1)[0].split("(Background on this error", 1)[0].strip()
    if text.startswith("(") and ") " in text:  # SQLAlchemy's "(sqlite3.DatabaseError) ..."
        text = text.split(") ", 1)[1]
    return text or type(cause).__name__


def reclaim_dead(study: Any, heartbeat: bool) -> list[int]:
    """Fail the running trials whose sweep process is gone and ask them again (same params, same folder).

    On this host a trial's owner pid is checked; elsewhere Optuna's heartbeat says (``fail_stale_trials`` re-asks
    through RetryFailedTrialCallback, which keeps the user attributes, the folder among them)."""
    import optuna
    from optuna.trial import TrialState

    reclaimed = []
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("owner") or {}
        if owner.get("host") == host and isinstance(owner.get("pid"), int) and not pid_alive(owner["pid"]):
            try:
                study.tell(t.number, state=TrialState.FAIL)
            except (RuntimeError, ValueError):  # another process reclaimed it first
                continue
            study.enqueue_trial(t.params, user_attrs={**t.user_attrs, "retry_of": t.number})
            reclaimed.append(t.number)
    if heartbeat:
        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)
    return reclaimed


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna warns that heartbeats are meant for Study.optimize and marks them experimental; we drive ask/tell
    ourselves, on purpose."""
    import optuna

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Hh]eartbeat.*")
        warnings.filterwarnings("ignore", message=".*fail_stale_trials.*")
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        yield


LIVE = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")


def live_numbers(study: Any) -> list[int]:
    """Trials that count towards n_trials: finished (complete or pruned), running or waiting to run."""
    return sorted(t.number for t in study.get_trials(deepcopy=False) if t.state.name in LIVE)


def position(study: Any) -> int:
    """Trials finished or running: where an uninterrupted study would be (a dead process's failed trial and the
    copy waiting to run it again do not count)."""
    return sum(t.state.name in ("COMPLETE", "PRUNED", "RUNNING") for t in study.get_trials(deepcopy=False))


def within_budget(study: Any, number: int, n_trials: int) -> bool:
    """Two processes asking at once may overshoot; the later trial numbers then give way."""
    live = live_numbers(study)
    return number in live and live.index(number) < n_trials


def claim(trial: Any, folder: int | None = None) -> int:
    """Mark the trial as this process's and fix its folder (a retried trial keeps the one it inherited)."""
    folder = int(trial.user_attrs.get("folder", trial.number if folder is None else folder))
    trial.set_user_attr("folder", folder)
    trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": os.getpid()})
    return folder


def consecutive_groups(items: Sequence[tuple[int, Any]]) -> list[list[tuple[int, Any]]]:
    """(folder, x) pairs sorted into runs of consecutive folders: each run is one launcher batch (job numbers
    are consecutive from the first)."""
    groups: list[list[tuple[int, Any]]] = []
    for item in sorted(items, key=lambda x: x[0]):
        if groups and groups[-1][-1][0] + 1 == item[0]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


class Heartbeat:
    """Records Optuna heartbeats for the trials this process is running (other hosts see it is alive)."""

    def __init__(self, storage: Any, trial_ids: Iterable[int], interval_s: float | None) -> None:
        self.storage, self.ids, self.interval = storage, list(trial_ids), interval_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            for trial_id in self.ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                    LOG.debug("heartbeat for trial id %d failed: %s", trial_id, exc)
            if self.stop.wait(self.interval):
                return

    def __enter__(self) -> "Heartbeat":
        if self.interval:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def objective_values(info: Mapping[str, Any], objectives: Sequence[str]) -> list[float] | None:
    """A finished run's objectives from its summary.json: best-epoch metrics, `params` (the model's parameter
    count) or `wall_time_s`; None when one is unknown (the trial then fails)."""
    values = []
    for name in objectives:
        if name == "params":
            value = ((info.get("provenance") or {}).get("model") or {}).get("params")
        elif name == "wall_time_s":
            value = info.get("wall_time_s")
        else:
            value = (info.get("best") or {}).get(name)
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        values.append(value)
    return values


def best_trial(study: Any) -> Any | None:
    """The best finished trial (for several objectives: the Pareto trial best in the first)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None
    if len(study.directions) == 1:
        return study.best_trial
    sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
    return max(study.best_trials, key=lambda t: sign * t.values[0])


def write_best_params(sweep_dir: Path, study: Any, groups: Iterable[str], objectives: Sequence[str],
                      fixed: Sequence[str] = ()) -> Path | None:
    """best_params.yaml (the best trial's values, ``key: value``, one override each) and, as a Hydra config that
    reproduces the best trial's run on its own, experiment/best_params.yaml: the study's fixed overrides (``fixed``:
    epochs, imgsz, data, ...) with the trial's values, so that ``python train.py 'hydra.searchpath=[file://SWEEP]'
    experiment=best_params`` trains what the trial trained."""
    import yaml

    from yolo_exp.sweep.experiment import override_values, write_experiment

    best = best_trial(study)
    if best is None:
        return None
    use = f"python train.py 'hydra.searchpath=[file://{Path(sweep_dir).resolve()}]' experiment=best_params"
    values, rest = override_values(fixed)
    header = (f"# Best trial {best.number} (folder {best.user_attrs.get('folder', best.number)}) of study "
              f"{study.study_name}: " + ", ".join(f"{k}={v:.5g}" for k, v in zip(objectives, best.values))
              + f"\n# Train with these values: {use}{''.join(' ' + r for r in rest)}\n")
    flat = dict(best.params)
    atomic_write_text(Path(sweep_dir) / "best_params.yaml", header + yaml.safe_dump(flat, sort_keys=False))
    return write_experiment(Path(sweep_dir) / "experiment" / "best_params.yaml", {**values, **flat}, groups, header)


def plot_study(study: Any, sweep_dir: Path, objectives: Sequence[str]) -> list[Path]:
    """optuna_history.png (objective per trial, best so far) and optuna_importance.png (parameter importances,
    once two trials finished with parameters that vary); drawn with Optuna's matplotlib plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    written = []
    multi = len(study.directions) > 1
    kwargs = {"target": (lambda t: t.values[0]), "target_name": objectives[0]} if multi else \
        {"target_name": objectives[0]}
    for name, draw in (("optuna_history.png", ovm.plot_optimization_history),
                       ("optuna_importance.png", ovm.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = draw(study, **kwargs)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(Path(sweep_dir) / name, dpi=120)
            plt.close(fig)
            written.append(Path(sweep_dir) / name)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few finished trials to say
            LOG.info("%s not drawn: %s", name, exc)
    return written
