"""How a failure inside a run reaches the user: one line on the console, the traceback in the run's log file."""
from __future__ import annotations

import logging
import os
import sys

from yolo_exp.config.validate import ConfigError
from yolo_exp.files.limits import short

LOG = logging.getLogger("yolo_exp")


def one_line(exc: BaseException) -> str:
    """The message's first line, with the exception type where the message alone would be vague."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    msg = lines[0] if lines else ""
    if msg.startswith("Caught ") and "Original Traceback" in str(exc):  # re-raised from a DataLoader worker
        msg = lines[-1]
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror}"
    if not msg or not isinstance(exc, (ValueError, OSError, FloatingPointError, RuntimeError)):
        msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return short(msg, 400)  # a message may quote a file's content: one line, of bounded length


def report_failure(exc: BaseException) -> None:
    """Traceback into the log file(s) only; one line on stderr that says where the traceback is."""
    record = LOG.makeRecord(LOG.name, logging.ERROR, __file__, 0, "run failed", None,
                            (type(exc), exc, exc.__traceback__))
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for handler in files:
        handler.handle(record)
    where = f" (traceback in {files[0].baseFilename})" if files else ""
    print(f"error: {one_line(exc)}{where}", file=sys.stderr)


def exit_for(exc: BaseException) -> SystemExit:
    """The exit of a single run that failed: status 2 for a bad setting, 1 otherwise. HYDRA_FULL_ERROR=1 keeps the
    exception (the caller re-raises it)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise exc
    return SystemExit(2 if isinstance(exc, ConfigError) else 1)
