"""train.py with a SIGKILL at a named event of the run, for the kill harness (tests/engine/test_kill.py).

YOLO_EXP_TEST_KILL="EVENT:N" kills the process at the N-th occurrence (from 1) of EVENT (YOLO_EXP_TEST_SIGNAL=INT
sends one Ctrl-C instead, INT2 two in a row):
  write:NAME      right after an atomic write of weights/NAME completed (e.g. write:last.pt)
  tmp:NAME        in the middle of a write of weights/NAME: its temporary file exists, the rename has not happened
  results         right after a row was appended to results.csv
  strip:NAME      right after weights/NAME was stripped at the end of the run
  validate:final  as the final validation (the one with plots) starts
YOLO_EXP_TEST_FALLING_FITNESS=1 makes every epoch score worse than the one before (see dist_entry.py).
Production code carries no test hooks: the events are patched in here, then train.py runs as its own __main__.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEN: Counter = Counter()
SIGNALS = {"KILL": [signal.SIGKILL], "INT": [signal.SIGINT], "INT2": [signal.SIGINT, signal.SIGINT]}


def event(name: str, target: str, count: int) -> None:
    SEEN[name] += 1
    if name == target and SEEN[name] == count:
        for sig in SIGNALS[os.environ.get("YOLO_EXP_TEST_SIGNAL", "KILL")]:
            os.kill(os.getpid(), sig)


def inject(target: str, count: int) -> None:
    from yolo_exp.engine import checkpoint, trainer
    from yolo_exp.files.atomic import TEMP_SUFFIX
    from yolo_exp.report import results

    real_save, real_strip, real_validate, real_append = (checkpoint.atomic_save, checkpoint.strip_checkpoint,
                                                         trainer.validate, results.append_row)

    def atomic_save(obj, path):  # noqa: ANN001
        path = Path(path)
        if target == f"tmp:{path.name}" and SEEN[target] + 1 == count:  # a temporary file as a cut write leaves it
            os.write(tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)[0],
                     b"half a ckpt")
        event(f"tmp:{path.name}", target, count)
        out = real_save(obj, path)
        event(f"write:{path.name}", target, count)
        return out

    def strip_checkpoint(path, **kwargs):  # noqa: ANN001
        out = real_strip(path, **kwargs)
        event(f"strip:{Path(path).name}", target, count)
        return out

    def validate(*args, **kwargs):  # noqa: ANN001
        if kwargs.get("save_dir") is not None:
            event("validate:final", target, count)
        return real_validate(*args, **kwargs)

    def append_row(*args, **kwargs):  # noqa: ANN001
        real_append(*args, **kwargs)
        event("results", target, count)

    checkpoint.atomic_save = trainer.atomic_save = atomic_save
    checkpoint.strip_checkpoint, trainer.validate, results.append_row = strip_checkpoint, validate, append_row


def _kill_from_env() -> None:
    spec = os.environ.get("YOLO_EXP_TEST_KILL")
    if spec:
        name, n = spec.rsplit(":", 1)
        inject(name, int(n))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from tests.dist_entry import run_train_py

    run_train_py(_kill_from_env)
