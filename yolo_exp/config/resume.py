"""`resume=RUN` and `resume=auto` on the command line, before Hydra starts, and paths Hydra's lexer cannot read.

A run folder is data: people share and download them. Resume therefore takes back only plain values of our own
schema from `.hydra/overrides.yaml` (never `hydra.*`, never a `_target_`, never a key our schema lacks) and checks
them as a new command line is checked. Every refusal happens here, before anything is written.
"""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Sequence

import yaml

from yolo_exp.config.quoting import hydra_quote, path_value
from yolo_exp.config.validate import ConfigError, is_auto_batch
from yolo_exp.files.limits import load_yaml

# Overrides a resumed run may change; everything else must stay as the run was started.
RESUME_SAFE = ("epochs", "workers", "device", "resume")
AUTO = ("auto", "true", "True")
UNREADABLE_SUMMARY = "fix it, or delete it to continue from weights/last.pt (its record of the run starts again)"
def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


COMMAND_ENV = "YOLO_EXP_COMMAND"  # the command line as typed (JSON), set by run_entry; launchers' jobs inherit it


def typed_command() -> list[str]:
    """The command line the user ran (``sys.argv`` of the process they started), or plain ``train.py``."""
    try:
        argv = json.loads(os.environ.get(COMMAND_ENV) or "null")
    except ValueError:
        argv = None
    return [str(a) for a in argv] if isinstance(argv, list) and argv else ["train.py"]


def resume_command(run_dir: Path | str, extra: Sequence[str] = (), sweep_dir: Path | None = None) -> str:
    """The shell command that continues ``run_dir``, spelt as the user called us (``python train.py`` or
    ``yolo-train``); a sweep's job: the sweep command itself with its folder, which resumes every job. Safe to paste
    whatever the path holds."""
    argv = typed_command()
    program = ["python", argv[0]] if argv[0].endswith(".py") else [os.path.basename(argv[0])]
    if sweep_dir is not None and ("-m" in argv or "--multirun" in argv):
        rest = [a for a in argv[1:] if not a.lstrip("+").startswith("hydra.sweep.dir=")]
        return shlex.join([*program, *rest, f"hydra.sweep.dir={sweep_dir}"])
    return shlex.join([*program, f"resume={Path(run_dir)}", *extra])


def current_sweep_dir() -> Path | None:
    """The sweep folder of the Hydra job running in this process, None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir).absolute()


def take_back(saved: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a run folder's saved overrides into those resume replays and those it ignores.

    Replayed: ``key=value`` or ``group=option`` for our own config keys. Ignored: ``hydra.*`` and ``hydra/...``
    (resume sets its own run folder; callbacks could run code), anything naming a ``_target_``, deletions (``~``),
    a group placed elsewhere (``group@package``, which could land under ``hydra``) and the resume bookkeeping
    (``resume=``); composition then rejects keys our schema does not have.
    """
    kept, ignored = [], []
    for o in saved:
        key = _key(o)
        if "=" not in o or o.startswith("~") or key.startswith("hydra") or "_target_" in o or "@" in key:
            ignored.append(o)
        elif key != "resume":
            kept.append(o)
    return kept, ignored


def _read_overrides(run_dir: Path) -> list[str]:
    saved = run_dir / ".hydra" / "overrides.yaml"
    try:
        loaded = load_yaml(saved, str(saved))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        reason = str(exc).removeprefix(str(saved)).lstrip(": ") if isinstance(exc, ValueError) else type(exc).__name__
        raise ConfigError(f"resume={run_dir}: cannot read {saved} ({reason})") from None
    if not isinstance(loaded, list) or not all(isinstance(o, str) for o in loaded):
        raise ConfigError(f"resume={run_dir}: {saved} is not a list of overrides")
    return loaded


def _job(overrides: Sequence[str]) -> set[str]:
    """What identifies a job: its overrides, less the ones resume may change."""
    return {o for o in overrides if not _key(o).startswith(RESUME_SAFE) and not _key(o).startswith("hydra")}


def find_unfinished(overrides: Sequence[str], root: Path = Path("outputs")) -> Path:
    """The newest training run under ``root`` of the same job (same overrides) that is not completed."""
    from yolo_exp.report.run_reader import read_run
    from yolo_exp.report.summary import DONE

    job = _job(overrides)
    candidates = []
    for weights in root.glob("*/*/weights"):
        run_dir = weights.parent
        if read_run(run_dir)["status"] in (*DONE, "running"):  # running: a live process holds its folder
            continue
        try:
            same = _job(take_back(_read_overrides(run_dir))[0]) == job
        except ConfigError:  # a folder we cannot read is not the one to resume
            continue
        if same:
            candidates.append((weights.stat().st_mtime, run_dir))
    if not candidates:
        raise ConfigError(f"resume=auto: no unfinished run of this command under {root.resolve()} (completed runs "
                          "are left as they are; drop resume= to start a new run)")
    return max(candidates)[1]


def check_resumable(run_dir: Path, new: Sequence[str], target: str) -> None:
    """Refuse what resume cannot do, before anything is written: a completed run not extended, or one trained
    further than asked. A run still running is refused when its folder is claimed (``owner.claim``)."""
    from yolo_exp.report.run_reader import read_run
    from yolo_exp.report.summary import DONE

    run = read_run(run_dir)
    if run.get("summary_error"):
        raise ConfigError(f"resume={target}: {run['summary_error']}; {UNREADABLE_SUMMARY}")
    epochs = next((path_value(o) for o in new if _key(o) == "epochs"), None)
    epochs = int(epochs) if epochs is not None and str(epochs).isdigit() else None
    if run["status"] in DONE:
        done = int(run.get("epochs") or run.get("epochs_done") or 0)
        if epochs is None or epochs <= done:
            raise ConfigError(f"resume={target}: this run is {run['status']} ({done} epochs); "
                              f"add epochs=N with N > {done} to train it further")
    elif epochs is not None and epochs < int(run.get("epochs_done") or 0):
        raise ConfigError(f"resume={target} epochs={epochs}: this run has already trained {run['epochs_done']} "
                          "epochs")


def _flat(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


# What may differ between two runs of the same job in one folder: where and how fast it runs, not what it trains.
SAME_JOB_DESPITE = ("resume", "workers", "sweep", "device.index", "trial", "logger")


def config_diff(new: dict, saved: dict) -> list[str]:
    """Keys whose values differ between two resolved configs, apart from SAME_JOB_DESPITE. A job that asks for
    AutoBatch is the same job as a run that recorded the size AutoBatch picked for it."""
    a, b = _flat(new), _flat(saved)
    if is_auto_batch(a.get("batch_size")) and recorded_batch(saved) is not None:
        a["batch_size"] = b["batch_size"]
    return sorted(k for k in a.keys() | b.keys()
                  if not k.startswith(tuple(f"{x}." for x in SAME_JOB_DESPITE)) and k not in SAME_JOB_DESPITE
                  and a.get(k) != b.get(k))


def recorded_batch(saved: object) -> int | None:
    """The batch size a resolved config (a run's config_resolved.yaml, as a dict) trained with, if a number."""
    batch = saved.get("batch_size") if isinstance(saved, dict) else None
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else None


def saved_config(run_dir: Path) -> dict | None:
    """A run folder's config_resolved.yaml, or None where there is none or it cannot be read."""
    path = Path(run_dir) / "config_resolved.yaml"
    try:
        saved = load_yaml(path, str(path))  # bounded: a run folder is data from outside too
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return saved if isinstance(saved, dict) else None


def folder_state(run_dir: Path, config_yaml: str, command: str = "train") -> str:
    """What a job of ``command`` about to run in ``run_dir`` (resolved config ``config_yaml``) finds there.

    ``new`` (no run), ``resume`` (its own unfinished run with a last.pt), ``completed`` (its own finished run) or
    ``failed`` (its own failed run). A run of another command, an earlier run of val/predict/export (they do not
    resume) or a training run of another config (``epochs`` and ``device`` included: a sweep over them makes
    different jobs; extend a run with ``resume=DIR epochs=N``) is a ConfigError: it is never overwritten. Whether
    the run is still running is the folder's lock's to say (``owner.claim``), not this function's.
    """
    from yolo_exp.files.owner import run_command
    from yolo_exp.report.run_reader import read_run
    from yolo_exp.report.summary import DONE

    held = run_command(run_dir)
    if held is None:
        return "new"
    if command != "train" or held not in (command, "unknown"):
        what = f"an earlier {held}.py run" if held == command else (
            "a run of another command" if held == "unknown" else f"a {held}.py run")
        raise ConfigError(f"{run_dir}: holds {what}; it is never overwritten: choose another hydra.run.dir / "
                          "hydra.sweep.dir")
    if not (run_dir / "config_resolved.yaml").is_file():
        return "new"
    saved = saved_config(run_dir)
    new = yaml.safe_load(config_yaml)
    diff = config_diff(new, saved) if isinstance(saved, dict) else ["config_resolved.yaml (unreadable)"]
    if diff:
        shown = ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")
        raise ConfigError(f"{run_dir}: holds the run of another config ({shown} differ); it is never overwritten: "
                          "choose another hydra.run.dir / hydra.sweep.dir (to train that run further: "
                          "resume=DIR epochs=N)")
    run = read_run(run_dir)
    if run.get("summary_error"):
        raise ConfigError(f"{run['summary_error']}; {UNREADABLE_SUMMARY}")
    if run["status"] in DONE:
        return "completed"
    if run["status"] == "failed":
        return "failed"
    return "resume" if (run_dir / "weights" / "last.pt").is_file() else "new"


def resume_argv(overrides: list[str], log=print) -> list[str]:  # noqa: ANN001
    """Rewrite `resume=PATH ...` into the run's own overrides plus the safe new ones, in the run's folder."""
    arg = next(o for o in overrides if _key(o) == "resume")
    new = [o for o in overrides if _key(o) != "resume"]
    target = path_value(arg)
    if target in AUTO:
        run_dir = find_unfinished(new)
    else:
        path = Path(target).expanduser()
        run_dir = path.parent.parent if path.suffix == ".pt" else path
    if not (run_dir / "weights").is_dir() or not (run_dir / ".hydra" / "overrides.yaml").is_file():
        raise ConfigError(f"resume={target}: not a training run folder (no weights/ and .hydra/overrides.yaml)")
    raw = _read_overrides(run_dir)
    saved, ignored = take_back(raw)
    if ignored:
        log(f"resume: not taken back from {run_dir / '.hydra' / 'overrides.yaml'}: {' '.join(ignored)}")
    # Repeating the run's own overrides is no change (an elastic restart replays the original command line);
    # hydra.* from the command line are the user's own, except the run folder, which resume sets.
    refused = [o for o in new if o not in raw and not _key(o).startswith(RESUME_SAFE)
               and (not _key(o).startswith("hydra.") or _key(o) in ("hydra.run.dir", "hydra.sweep.dir"))]
    if refused:
        raise ConfigError(f"resume: only {', '.join(RESUME_SAFE[:-1])} may change when resuming; "
                          f"refused: {' '.join(refused)}")
    check_resumable(run_dir, new, target)
    replaced = {_key(o) for o in new}  # the new value of a key wins
    old = [o for o in saved if _key(o) not in replaced]
    folder = hydra_quote(str(run_dir.resolve()))
    if not (run_dir / "weights" / "last.pt").is_file():  # stopped before its first checkpoint: start it over there
        log(f"resume: {run_dir} has no weights/last.pt yet; starting the run over in its folder")
        return old + new + [f"hydra.run.dir={folder}"]
    return old + new + [f"resume={folder}", f"hydra.run.dir={folder}"]
