"""One owner per run folder: an exclusive OS lock, held for the owning process's life, and which command's run a
folder holds.

The lock is ``fcntl.flock`` on ``.owner.lock`` in the run folder. The kernel drops it when the process ends, also
on SIGKILL, so "is this run still running" is asked of the lock and never of a recorded pid (a container restarts
at the same pids; a pid says nothing on another host). The file records host, pid and command for messages only.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import yaml

from yolo_exp.config.validate import ConfigError

LOCK_FILE = ".owner.lock"
LAUNCHED_FOLDER = "YOLO_EXP_LAUNCHED_FOLDER"  # a folder a launching process holds for the DDP processes it starts
COMMANDS = {"config": "train", "val": "val", "predict": "predict", "export": "export"}  # Hydra config -> command
# This process's locks, by folder. A process-wide table on purpose: flock is per open file, so a second open of
# the lock file in the owning process would find it "busy"; the folder claimed before Hydra is the task's folder.
_HELD: dict[str, int] = {}
CLAIM_WAIT_S = 1.0  # a reader's probe holds the lock for microseconds; an owner holds it for the run


def _forget_in_child() -> None:
    """A forked child (a loader worker) must not keep the parent's lock alive after the parent is killed: the lock
    lasts while any copy of its file descriptor is open."""
    for fd in _HELD.values():
        os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _key(run_dir: Path) -> str:
    return str(Path(run_dir).resolve())


def owner_record(run_dir: Path) -> dict[str, Any]:
    """Who took the folder last (host, pid, command), for messages; {} when unknown."""
    try:
        record = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def busy_message(run_dir: Path, then: str) -> str:
    who = owner_record(run_dir)
    by = f"{who.get('command', '')}.py " if who.get("command") else ""
    return f"{run_dir}: in use by another process ({by}pid {who.get('pid', '?')} on {who.get('host', '?')}); {then}"


def in_use(run_dir: Path) -> bool:
    """True while a live process (this one included) holds the folder's lock. Read-only: works on shared folders."""
    if holds(run_dir):
        return True
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # no lock file: nobody has taken the folder since locks exist
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def claim(run_dir: Path, command: str, then: str = "nothing was changed") -> None:
    """Take the folder for this process (a no-op when it has it already); ConfigError when another process has it
    (``then`` ends its message).

    Call before anything is written into the folder: only the lock file is created."""
    if holds(run_dir) or os.environ.get(LAUNCHED_FOLDER) == _key(run_dir):
        return  # this process's, or held for it by the command that started its DDP processes (engine/launch.py)
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"{run_dir}: cannot take the folder ({exc.strerror})") from None
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise ConfigError(busy_message(Path(run_dir), then)) from None
            time.sleep(0.05)
    record = json.dumps({"command": command, "host": socket.gethostname(), "pid": os.getpid()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)
    _HELD[_key(run_dir)] = fd


def holds(run_dir: Path) -> bool:
    """This process has the folder."""
    return _key(run_dir) in _HELD


def release(run_dir: Path) -> None:
    fd = _HELD.pop(_key(run_dir), None)
    if fd is not None:
        os.close(fd)


def run_command(run_dir: Path) -> str | None:
    """The command whose run the folder holds (train, val, predict, export; ``unknown`` when a run is there but its
    record is unreadable), or None when it holds no run. Hydra's own record (``.hydra/hydra.yaml``) names the
    command's config."""
    run_dir = Path(run_dir)
    try:
        hydra_cfg = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text(encoding="utf-8"))
        name = hydra_cfg["hydra"]["job"]["config_name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        name = None
    if isinstance(name, str):
        return COMMANDS.get(name, name)
    return "unknown" if (run_dir / "config_resolved.yaml").is_file() else None
