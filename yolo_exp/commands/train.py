"""One training job inside Hydra: the run folder, its summary and callbacks (loggers), how a failure is recorded."""
from __future__ import annotations

import logging
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from yolo_exp.build import build_trainer
from yolo_exp.config.resume import folder_state, recorded_batch, saved_config
from yolo_exp.config.validate import ConfigError, check_batch_split, is_auto_batch, validate
from yolo_exp.engine.callbacks import CallbackList, RunEnd, RunStart, build_callbacks
from yolo_exp.engine.errors import exit_for, one_line, report_failure
from yolo_exp.files.atomic import atomic_write_text, remove_stale_temps
from yolo_exp.parallel import dist
from yolo_exp.parallel.launch import child_argv, launch
from yolo_exp.report.run_reader import read_run
from yolo_exp.report.summary import RunSummary

LOG = logging.getLogger("yolo_exp.train")
LAST_SLOT: dict[int, int] = {}  # per worker process: the slot of its previous job in a parallel sweep


def versions() -> dict[str, str]:
    import hydra
    import numpy

    from yolo_exp import __version__

    return {"yolo_exp": __version__, "torch": str(torch.__version__), "hydra": hydra.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def code_provenance() -> dict[str, Any] | None:
    """The project's git commit, whether the tree was dirty and a hash of the diff; None outside a git checkout."""
    import hashlib
    import subprocess

    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout

    try:
        commit, diff = git("rev-parse", "HEAD").strip(), git("diff", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(diff), "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16]
            if diff else None}


def run_callbacks(cfg: DictConfig) -> CallbackList:
    """The user's callbacks, then the loggers (TensorBoard by default), then a search trial's reporter."""
    callbacks = build_callbacks([*(cfg.callbacks or {}).items(), *(cfg.logger or {}).items()])
    if cfg.trial.study is not None:  # a job of `hydra/sweeper=optuna`: per-epoch fitness to its trial (pruning)
        from yolo_exp.sweep.trial import TrialReporter

        callbacks.append(TrialReporter(**OmegaConf.to_container(cfg.trial)))
    return CallbackList(callbacks)


def job_in_its_folder(cfg: DictConfig, run_dir: Path) -> float | None:
    """A sweep job whose folder holds its own run: continue it (sets ``cfg.resume``), or return the fitness of a
    run that is done; a folder of another config's run is refused without writing a byte into it."""
    try:
        state = folder_state(run_dir, OmegaConf.to_yaml(cfg, resolve=True))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return float("nan")
    recorded = read_run(run_dir)
    if state == "completed" or (state == "failed" and not cfg.sweep.retry_failed):
        fitness = (recorded.get("best") or {}).get("fitness")
        print(f"{run_dir}: {recorded['status']} before; left as it is", file=sys.stderr)
        return float(fitness) if fitness is not None and state == "completed" else float("nan")
    if (run_dir / "weights" / "last.pt").is_file():  # unfinished, or failed and retried: from its last.pt
        cfg.resume = str(run_dir)
    return None


def parallel_slot(cfg: DictConfig, hc) -> object | None:  # noqa: ANN001
    """In a parallel sweep (the joblib launcher), take this job's slot: its GPU and its share of the cores.
    Settings given on the command line win."""
    if "joblib" not in str(hc.launcher.get("_target_", "")):
        return None
    from yolo_exp.sweep.slots import take_slot

    cores = len(os.sched_getaffinity(0))
    n_jobs = int(hc.launcher.n_jobs) if int(hc.launcher.n_jobs) > 0 else cores
    # the sweep folder, absolute (also with chdir); a reused worker process asks for the slot it had
    counted = cfg.device.get("gpus") if isinstance(cfg.device.get("gpus"), int) else None  # device.gpus=N
    slot = take_slot(Path(hc.runtime.output_dir).parent, n_jobs, prefer=LAST_SLOT.get(os.getpid()),
                     per_job=counted or 1)
    LAST_SLOT[os.getpid()] = slot.index
    given = {o.split("=", 1)[0].lstrip("+") for o in hc.overrides.task}
    if slot.gpu is not None and "device.index" not in given:
        cfg.device.index = slot.gpu
    if counted and slot.gpus is not None:  # a multi-GPU job: its slot's GPUs, not GPUs 0..N-1 for every job
        cfg.device.gpus = slot.gpus
    if "workers" not in given:
        cfg.workers = min(cfg.workers, slot.threads)
    torch.set_num_threads(slot.threads)
    where = "CPU" if slot.gpu is None else f"GPUs {slot.gpus}" if counted else f"GPU {cfg.device.index}"
    print(f"job {hc.job.num} ({' '.join(hc.overrides.task)}): slot {slot.index} of {n_jobs}, {where}, "
          f"{slot.threads} threads, "
          f"{cfg.workers} workers", file=sys.stderr)
    return slot


def train_task(cfg: DictConfig) -> float:
    """Run one job; returns its fitness (what optimising sweepers maximise).

    A failure is recorded (summary.json, traceback.txt, the traceback in train.log) and shown as one line; a single
    run then exits with status 1 (HYDRA_FULL_ERROR=1 raises it instead), a sweep goes on with the next job.
    """
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    if not dist.is_main():
        # under torchrun the other ranks train and write nothing: one log per run, rank 0's (they share the folder)
        logging.getLogger().setLevel(logging.WARNING)
        try:
            return float(build_trainer(cfg, run_dir).fit().best_fitness)
        except Exception as exc:  # noqa: BLE001 - rank 0 keeps the record; the others say why, in one line
            print(f"error: rank {dist.rank()}: {one_line(exc)}", file=sys.stderr)
            raise exit_for(exc) from None
        finally:
            dist.cleanup()
    if hc.mode == RunMode.MULTIRUN and not cfg.resume:
        ran_before = job_in_its_folder(cfg, run_dir)
        if ran_before is not None:  # completed (or failed, not retried): left exactly as it is
            return ran_before
    slot = parallel_slot(cfg, hc) if hc.mode == RunMode.MULTIRUN else None
    try:
        if dist.process_count(cfg.device) > 1 and not dist.launched():  # this job's own DDP processes
            return _launched_job(cfg, hc, run_dir)
        return _train_job(cfg, hc, run_dir)
    finally:
        if slot is not None:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # the next job in this GPU slot gets the memory back
            slot.handle.close()  # the next job may take this slot (loky reuses this process)


def _launched_job(cfg: DictConfig, hc, run_dir: Path) -> float:  # noqa: ANN001
    """``device.gpus`` / ``device.processes`` > 1: this job's DDP processes, started here (engine/launch.py) in
    this job's folder; their rank 0 writes the run. Returns its best fitness; a failure is one line (a single
    run exits non-zero, a sweep goes on)."""
    n, gpus = dist.process_count(cfg.device), dist.gpu_indices(cfg.device)
    overrides = [*hc.overrides.task, *([f"resume={run_dir}"] if cfg.resume else [])]
    try:
        check_batch_split(cfg, "config")  # checked at start for a single run; here for each sweep job
        LOG.info("Run folder: %s (%d DDP processes%s)", run_dir, n, f" on GPUs {gpus}" if gpus else ", gloo")
        launch(n, child_argv(sys.argv[0], overrides, run_dir), gpus, run_dir)
    except (ConfigError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if hc.mode == RunMode.MULTIRUN:
            return float("nan")
        raise SystemExit(2 if isinstance(exc, ConfigError) else 1) from None
    fitness = (read_run(run_dir).get("best") or {}).get("fitness")
    return float(fitness) if fitness is not None else float("nan")


def _train_job(cfg: DictConfig, hc, run_dir: Path) -> float:  # noqa: ANN001
    LOG.info("Run folder: %s", run_dir)
    for stale in remove_stale_temps(run_dir, run_dir / "weights"):
        LOG.info("removed %s, left by a write that was cut off", stale)
    choices = {k: v for k, v in OmegaConf.to_container(hc.runtime.choices).items() if not k.startswith("hydra")}
    summary = RunSummary(run_dir, overrides=list(hc.overrides.task), choices=choices, versions=versions())
    if cfg.resume and is_auto_batch(cfg.batch_size):  # the size AutoBatch picked when the run began
        cfg.batch_size = recorded_batch(saved_config(run_dir)) or cfg.batch_size
    atomic_write_text(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    summary.provenance(code=code_provenance())
    summary.start(cfg.epochs, resume=bool(cfg.resume))
    callbacks, result, trainer = CallbackList(), None, None
    try:
        validate(cfg)
        callbacks = run_callbacks(cfg)
        callbacks.on_run_start(RunStart(
            run_dir, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), choices, list(hc.overrides.task),
            resumed=bool(cfg.resume), sweep_dir=Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None))
        trainer = build_trainer(cfg, run_dir, summary, callbacks)  # every object of the run, from the config groups
        result = trainer.fit()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the record short
        summary.finish("interrupted")
        callbacks.on_run_end(RunEnd(run_dir, "interrupted", summary.data["epochs_done"]))
        if trainer is not None and trainer.stop.preempted is not None:  # last.pt is saved: now the cluster requeues
            signum, requeue = trainer.stop.preempted
            requeue(signum, None)
        raise SystemExit(130) from None  # the trainer logged the resume command; no traceback
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then reported in one line
        try:
            summary.fail(exc)
        except OSError as write_error:  # e.g. the disk that failed the run is still full
            LOG.warning("summary.json not updated: %s", write_error)
        callbacks.on_run_end(RunEnd(run_dir, "failed", summary.data["epochs_done"], error=exc))
        report_failure(exc)
        if hc.mode == RunMode.MULTIRUN:  # the sweep goes on; the summary callback reports the failure
            return float("nan")
        raise exit_for(exc) from None
    finally:
        dist.cleanup()  # a failed rank leaves no collective waiting; torchrun's agent stops the others
    summary.finish(result.status, stopped=result.stopped)
    callbacks.on_run_end(RunEnd(run_dir, result.status, result.epochs_done, dict(result.best), dict(result.final)))
    LOG.info("Run folder: %s", run_dir)
    return float(result.best_fitness)
