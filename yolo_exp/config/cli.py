"""Command-line front of the Hydra entries: one-line errors before anything is built, and resume in place.

Before Hydra starts, the command line is composed once (yolo_exp.config.compose: one line naming the key), sweeps
value by value, the output folders are checked and claimed, and `resume=DIR` becomes the run's own command line.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Sequence

from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.compose import compose_checked, sweep_variants
from yolo_exp.config.quoting import hydra_quote, path_value, quote_paths
from yolo_exp.config.resume import AUTO, COMMAND_ENV, folder_state, resume_argv
from yolo_exp.config.validate import ConfigError, SweepStop, check_batch_split
from yolo_exp.files.paths import CONF_DIR
from yolo_exp.parallel import dist

INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--version"}
# Ranks other than 0 write nothing: no .hydra/ folder, no train.log (warnings and errors still reach stderr).
QUIET_RANK = ["hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled",
              "~hydra.job_logging.handlers"]


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate Hydra's flags (and their values) from plain overrides."""
    flags, overrides = [], []
    takes_value = {"--cfg", "-c", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                   "--package", "-p", "--info", "-i", "--experimental-rerun", "-sc", "--shell-completion"}
    it = iter(argv)
    for arg in it:
        if arg.startswith("-"):
            flags.append(arg)
            if arg in takes_value:
                nxt = next(it, None)
                if nxt is not None:
                    flags.append(nxt)
        else:
            overrides.append(arg)
    return flags, overrides


def device_sugar(overrides: Sequence[str]) -> list[str]:
    """``device=0,1`` (YOLOv5's and ultralytics' way to name GPUs) as the config says it: ``device=cuda
    device.gpus=[0,1]``; ``device=1`` is ``device=cuda device.index=1``. Single runs only: in a sweep, a comma
    separates the values swept."""
    out = []
    for o in overrides:
        key, _, value = o.partition("=")
        items = [v.strip() for v in value.split(",")]
        if key == "device" and value and all(v.isdigit() for v in items):
            out.append("device=cuda")
            out.append(f"device.index={items[0]}" if len(items) == 1 else f"device.gpus=[{','.join(items)}]")
        else:
            out.append(o)
    return out


def ddp_argv(overrides: list[str], multirun: bool) -> list[str]:
    """Under torchrun: all ranks in one run folder, named by the job id so an elastic restart finds it again.

    `hydra.run.dir=DIR` names the folder explicitly. `resume=auto` resumes that folder when it holds a last.pt
    and starts fresh in it otherwise (the first attempt of a job started with `--max-restarts`).
    """
    if multirun:
        raise ConfigError("-m: sweeps cannot run under torchrun (every rank would start its own sweep); launch one "
                          "torchrun per job, or one single-GPU sweep job per GPU (see README)")
    run_dir = next((path_value(o) for o in overrides if o.startswith("hydra.run.dir=")), None)
    if run_dir is None:
        if dist.run_id() is None:
            raise ConfigError("torchrun gave this job no id (TORCHELASTIC_RUN_ID=none) to name its run folder; "
                              "pass --rdzv_id=NAME to torchrun or hydra.run.dir=DIR")
        run_dir = f"outputs/ddp/{dist.run_id()}"
    rest = [o for o in overrides if not o.startswith(("hydra.run.dir=", "resume="))]
    resume = next((path_value(o) for o in overrides if o.startswith("resume=")), "null")
    if resume in AUTO:
        resume = run_dir if (Path(run_dir) / "weights" / "last.pt").is_file() else "null"
    if resume != "null":
        return [*rest, f"resume={resume}"]  # resume_argv puts the run back in its own folder
    return [*rest, f"hydra.run.dir={run_dir}"]


def extra_search_path(flags: list[str]) -> list[str]:
    """`--config-dir DIR` (e.g. an evolve sweep's hyp_evolve.yaml) as an override the check can compose with."""
    for i, flag in enumerate(flags[:-1]):
        if flag in ("--config-dir", "-cd"):
            return [f"hydra.searchpath=[file://{Path(flags[i + 1]).resolve()}]"]
    return []


def run_entry(main: Callable[[], None], argv: list[str] | None = None, config_name: str = "config") -> None:
    """Check the command line, then hand it to Hydra (`main` is the @hydra.main function)."""
    argv = sys.argv if argv is None else argv
    flags, overrides = split_argv(argv[1:])
    if any(f.split("=")[0] in INFO_FLAGS for f in flags):
        return main()
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        multirun = "-m" in flags or "--multirun" in flags
        if not multirun:
            overrides = device_sugar(overrides)
        if dist.launched():
            overrides = ddp_argv(overrides, multirun)
        overrides = quote_paths(overrides, multirun)
        if any(o.startswith("resume=") and not o.endswith("=null") for o in overrides):
            if multirun:
                raise ConfigError("resume: cannot be combined with -m (resume one run at a time)")
            overrides = resume_argv(overrides, log=lambda msg: print(msg, file=sys.stderr))
        checked = overrides + extra_search_path(flags)
        cfg = None
        if multirun:
            variants = sweep_variants(checked)
            for variant in variants:
                compose_checked(variant, check_paths=False, config_name=config_name)
            check_launcher(variants[0], config_name)
        else:
            cfg = compose_checked(checked, config_name=config_name)
            check_batch_split(cfg, config_name)
        if dist.is_main():  # the other ranks write nothing; rank 0 owns the folder
            check_output_folder(overrides, multirun)
            overrides += check_job_folders(overrides, checked, multirun, cfg, config_name)
    except ConfigError as exc:
        if full_error:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    os.environ[COMMAND_ENV] = json.dumps(list(argv))  # for the messages that repeat it (resume after Ctrl-C)
    if overrides != split_argv(argv[1:])[1]:
        sys.argv = [argv[0], *flags, *overrides, *([] if dist.is_main() else QUIET_RANK)]
    try:
        main()
    except KeyboardInterrupt:  # before or after a run's own handling (start-up, a sweep between jobs)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SweepStop as exc:
        if full_error and (exc.__cause__ or exc.__context__):
            traceback.print_exception(exc.__cause__ or exc.__context__)
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.status)


def check_launcher(overrides: Sequence[str], config_name: str) -> None:
    """The SLURM launcher where there is no SLURM fails deep inside submitit (25 lines ending in `Could not detect
    "srun"`); say it in one line before Hydra starts the sweep."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="check"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    target = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "")
    if target.endswith("SlurmLauncher") and shutil.which("srun") is None:
        choice = OmegaConf.select(cfg, "hydra.runtime.choices", default={}).get("hydra/launcher", "slurm")
        raise ConfigError(f"hydra/launcher={choice}: no SLURM on this machine (submitit needs `srun` on PATH); "
                          "hydra/launcher=submitit_local runs the same launcher here")


def _given_dir(overrides: Sequence[str], key: str) -> Path | None:
    """A folder named on the command line (not one Hydra makes up from the time)."""
    given = next((path_value(o.lstrip("+")) for o in overrides if o.lstrip("+").startswith(f"{key}=")), None)
    return Path(given) if given and "${" not in given else None


def _interpolated_sweep_dir(overrides: Sequence[str], checked: Sequence[str]) -> Path | None:
    """A sweep folder given with interpolations (``multirun/${name}``, ``${now:...}``) as Hydra will resolve it,
    so that its jobs' folders are checked before Hydra writes into them; None when it cannot be resolved here."""
    from hydra import compose, initialize_config_dir

    given = next((path_value(o.lstrip("+")) for o in overrides if o.lstrip("+").startswith("hydra.sweep.dir=")), None)
    if not given or "${" not in given:
        return None
    try:  # the job name is the command's (train.py: train), as Hydra's own
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name=Path(sys.argv[0]).stem):
            cfg = compose("config", overrides=sweep_variants(checked)[0], return_hydra_config=True)
        return Path(str(OmegaConf.select(cfg, "hydra.sweep.dir", throw_on_resolution_failure=True)))
    except Exception:  # noqa: BLE001 - e.g. a runtime-only interpolation: Hydra resolves it later, unchecked
        return None


def check_job_folders(overrides: Sequence[str], checked: Sequence[str], multirun: bool,
                      cfg: DictConfig | None = None, config_name: str = "config") -> list[str]:
    """Before Hydra writes into a folder named on the command line, look at the run it may hold, for every command.

    A run of another command, or of another config: refused, nothing written. A single run's folder is then taken
    for this process (``owner.claim``: a second process on it stops here, in one line) and decided under that
    lock: train's own finished run exits 0, its unfinished run is continued (the overrides to add are returned).
    Sweep jobs decide the same in their own folder (``commands.train``); here the whole sweep is refused before any job
    starts if one folder holds a foreign run. ``cfg``: the single run's config, already composed by the caller.
    """
    from yolo_exp.files.owner import COMMANDS, claim

    command = COMMANDS[config_name]
    if multirun:
        _check_sweep_folders(overrides, checked, config_name)
        return []
    run_dir = _given_dir(overrides, "hydra.run.dir")
    if run_dir is None:
        return []  # a new folder Hydra names by the time; the job takes it when it starts
    resuming = any(o.startswith("resume=") for o in overrides)  # resume_argv checked it and names the folder
    config_yaml = "" if resuming else OmegaConf.to_yaml(
        cfg if cfg is not None else compose_checked(checked, check_paths=False, config_name=config_name), resolve=True)
    if not resuming:
        folder_state(run_dir, config_yaml, command)  # a refusal writes nothing, not even the lock file
    claim(run_dir, command)  # held for this process's life: Hydra, the job and its writes come after
    if resuming or dist.launched():  # torchrun restarts go through resume=auto
        return []
    state = folder_state(run_dir, config_yaml, command)  # decided again under the lock
    if state == "completed":
        print(f"{run_dir}: this run is completed; left as it is (to train it further: resume=DIR epochs=N)",
              file=sys.stderr)
        sys.exit(0)
    has_last = (run_dir / "weights" / "last.pt").is_file()
    return [f"resume={hydra_quote(str(run_dir))}"] if state in ("resume", "failed") and has_last else []


def _check_sweep_folders(overrides: Sequence[str], checked: Sequence[str], config_name: str) -> None:
    """Each job folder of a named sweep folder that holds a run must hold this job's own (train) run."""
    from yolo_exp.files.owner import COMMANDS, run_command

    sweep_dir = _given_dir(overrides, "hydra.sweep.dir") or _interpolated_sweep_dir(overrides, checked)
    if sweep_dir is None or any(o.startswith(("hydra/sweeper=", "hydra.sweep.subdir=")) for o in overrides):
        return
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(checked))
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    for num, job in enumerate(jobs):
        if run_command(sweep_dir / str(num)) is not None:
            config_yaml = OmegaConf.to_yaml(compose_checked(job, check_paths=False, config_name=config_name),
                                            resolve=True)
            folder_state(sweep_dir / str(num), config_yaml, COMMANDS[config_name])


def check_output_folder(overrides: Sequence[str], multirun: bool) -> None:
    """Hydra fails on an unwritable output folder with a logging-config traceback; say it in one line first."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = next((path_value(o) for o in overrides if o.startswith(f"{key}=")), None)
    folder = Path(str(given).split("$", 1)[0] or ".") if given else Path("multirun" if multirun else "outputs")
    existing = folder.expanduser().absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}={given or folder}: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".yolo_exp_write_test", dir=existing))
    except OSError as exc:
        raise ConfigError(f"{key}={given or folder}: cannot create run folders in {existing} ({exc.strerror}); "
                          f"run from a writable folder or set {key}=DIR") from None
