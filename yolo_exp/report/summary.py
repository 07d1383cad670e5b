"""summary.json: one small file that says how a run went, kept current while it runs.

The trainer calls `RunSummary` at start, after every epoch and at the end, so a run killed mid-way still shows
its last state. ``load_summary`` reads it back checked (a hand-edited or foreign file gives one line, not a
traceback); yolo_exp.report.run_reader reads a whole run folder.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.files.limits import MAX_RECORD_BYTES, read_text
from yolo_exp.metrics.fitness import MASK_METRICS, METRICS, fitness
from yolo_exp.report.results import row_metrics

SUMMARY_FILE = "summary.json"
TRACEBACK_FILE = "traceback.txt"
# A run that ended as planned: trained its epochs (or stopped early), or was stopped by a search's pruner. Either
# is left as it is by a rerun sweep and extended with resume=DIR epochs=N; neither is a failure.
DONE = ("completed", "pruned")


def _now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _finite(value: Any) -> float | None:
    """JSON has no NaN; a missing or non-finite metric is stored as null."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fitness_of(metrics: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> float | None:
    """Fitness (metrics/fitness.py; YOLOv5's weights unless given) of metrics that may be missing; None when mAP
    is unknown."""
    if _finite(metrics.get("map50")) is None or _finite(metrics.get("map")) is None:
        return None
    keys = (*METRICS, *MASK_METRICS) if _finite(metrics.get("mask_map")) is not None else METRICS
    values = {k: _finite(metrics.get(k)) or 0.0 for k in keys}
    return fitness(values, weights) if weights is not None else fitness(values)


def short_metrics(metrics: Mapping[str, Any], fitness: Any = None) -> dict[str, float | None]:
    """{precision, recall, map50, map, (segmentation: mask_*,) fitness} of a results.csv row or of metrics keyed by
    their names."""
    out = {k: _finite(v) for k, v in row_metrics(metrics).items()}
    out = {k: out.get(k) for k in (*METRICS, *(MASK_METRICS if "mask_map" in out else ()))}
    fit = fitness if fitness is not None else metrics.get("fitness")
    out["fitness"] = _finite(fit) if fit is not None else fitness_of(out)
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def data_change(previous: Mapping[str, Any], now: Mapping[str, Mapping[str, Any]]) -> str | None:
    """``the data changed since the run resumed after epoch 3: train 16 -> 18 images, 40 -> 45 boxes; val labels
    or files changed (8 images)``, or None when every split has the fingerprint it had."""
    parts = []
    for split, facts in now.items():
        before = (previous.get("data") or {}).get(split) or {}
        if before.get("fingerprint") == facts.get("fingerprint"):
            continue
        counts = [f"{before[k]} -> {facts[k]} {k}" for k in ("images", "boxes")
                  if isinstance(before.get(k), int) and before[k] != facts.get(k)]
        parts.append(f"{split} " + (", ".join(counts) if counts else
                                    f"labels or files changed ({facts.get('images')} images)"))
    if not parts:
        return None
    epoch = previous.get("epoch") or 0
    since = f"resumed after epoch {epoch}" if epoch else "started"
    return f"the data changed since the run {since}: {'; '.join(parts)}"


def write_failure(run_dir: Path, exc: BaseException, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mark a run failed: traceback.txt in the run folder, status/error in summary.json (created if absent)."""
    run_dir = Path(run_dir)
    if data is None:
        data = _load_json(run_dir / SUMMARY_FILE) or {"run_dir": str(run_dir.resolve())}
    tb_path = run_dir / TRACEBACK_FILE
    atomic_write_text(tb_path, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    data.update(status="failed", ended=_now_iso(),
                error={"type": type(exc).__name__, "message": str(exc), "traceback": str(tb_path.resolve())})
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(data, indent=2) + "\n")
    return data


def mark_pruned(run_dir: Path, reason: str) -> None:
    """A finished run that a search stopped promoting (successive halving by extension): status pruned, the
    epochs it trained and why; it stays extendable with resume=DIR epochs=N like any finished run."""
    path = Path(run_dir) / SUMMARY_FILE
    data = _load_json(path)
    if data is None or data.get("status") not in DONE:
        return
    data.update(status="pruned", stopped={"epoch": data.get("epochs_done"), "reason": reason})
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


class RunSummary:
    """Keeps `<run_dir>/summary.json` current through a run's life (rank 0 only; the caller decides)."""

    def __init__(self, run_dir: str | Path, overrides: list[str], choices: Mapping[str, Any],
                 versions: Mapping[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self._t0 = time.monotonic()
        self.data: dict[str, Any] = {
            "status": "created", "best_epoch": None, "best": short_metrics({}), "final": short_metrics({}),
            "epochs_done": 0, "epochs": None, "wall_time_s": 0.0, "started": None, "ended": None,
            "overrides": list(overrides), "choices": dict(choices), "versions": dict(versions),
            "run_dir": str(self.run_dir.resolve()), "error": None,
            "pid": os.getpid(), "host": socket.gethostname(),
        }

    @property
    def path(self) -> Path:
        return self.run_dir / SUMMARY_FILE

    def _write(self) -> None:
        self.data["wall_time_s"] = round(time.monotonic() - self._t0, 3)
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")

    def provenance(self, **facts: Any) -> None:
        """What the run saw (code, device, data fingerprint), for compare's warnings; written with the next update."""
        self.data.setdefault("provenance", {}).update(facts)

    def start(self, epochs: int, resume: bool = False) -> None:
        """On resume the run's progress so far (epochs done, best and last metrics, start time) is kept."""
        prior = load_summary(self.run_dir)[0] if resume else None
        self._t0 = time.monotonic() - float((prior or {}).get("wall_time_s") or 0.0)
        if prior:
            self.data.update({k: prior[k] for k in ("best_epoch", "best", "final", "epochs_done", "started",
                                                    "segments") if k in prior})
            if "segments" not in prior and isinstance((prior.get("provenance") or {}).get("data"), dict):
                self.data["segments"] = [{"epoch": 0, "data": {split: {"fingerprint": fp} for split, fp in
                                                               prior["provenance"]["data"].items()}}]
        self.data.update(status="running", epochs=int(epochs), started=self.data["started"] or _now_iso(),
                         error=None)
        self.data.pop("stopped", None)
        self._write()

    def data_segment(self, data: Mapping[str, Mapping[str, Any]]) -> str | None:
        """Record the data this segment of training sees (``{split: {fingerprint, images, boxes}}``, from epoch
        ``epochs_done`` on), written with the next update; returns what changed since the previous segment."""
        segments = self.data.setdefault("segments", [])
        previous = segments[-1] if segments else None
        segments.append({"epoch": self.data["epochs_done"], "started": _now_iso(), "data": dict(data)})
        return data_change(previous, data) if previous else None

    def epoch_end(self, epoch: int, metrics: Mapping[str, Any], fitness: float, best_epoch: int,
                  best: Mapping[str, Any]) -> None:
        """`epoch` is 0-based as in results.csv; metrics/best may use YOLOv5 keys or short ones."""
        self.data.update(epochs_done=int(epoch) + 1, best_epoch=int(best_epoch) + 1,  # counted from 1, as the log
                         final=short_metrics(metrics, fitness), best=short_metrics(best))
        self._write()

    def finish(self, status: str = "completed", stopped: str | None = None) -> None:
        """``stopped``: why a callback ended the run early (e.g. the pruner's reason), recorded with the status."""
        if status not in (*DONE, "interrupted"):
            raise ValueError(f"finish(status={status!r}): expected one of {', '.join((*DONE, 'interrupted'))}")
        self.data.update(status=status, ended=_now_iso())
        if stopped:
            self.data["stopped"] = {"epoch": self.data["epochs_done"], "reason": stopped}
        self._write()

    def fail(self, exc: BaseException) -> None:
        self.data["wall_time_s"] = round(time.monotonic() - self._t0, 3)
        write_failure(self.run_dir, exc, self.data)


STATUSES = ("created", "running", *DONE, "failed", "interrupted")
_NUMBER = (int, float)
_TEXT, _INT, _OBJ, _LIST = ((str,), "a string"), ((int,), "an integer"), ((dict,), "an object"), ((list,), "a list")
# summary.json's keys that the readers use, the types they must have, and whether null is allowed
FIELDS: dict[str, tuple[tuple[tuple[type, ...], str], bool]] = {
    "status": (_TEXT, False), "best_epoch": (_INT, True), "best": (_OBJ, False), "final": (_OBJ, False),
    "epochs_done": (_INT, False), "epochs": (_INT, True), "wall_time_s": ((_NUMBER, "a number"), True),
    "started": (_TEXT, True), "ended": (_TEXT, True), "overrides": (_LIST, False), "choices": (_OBJ, False),
    "versions": (_OBJ, False), "provenance": (_OBJ, False), "error": (_OBJ, True), "stopped": (_OBJ, True),
    "segments": (_LIST, False),
}


def summary_problem(data: Any) -> str | None:
    """What is wrong with a summary.json's content (hand-edited, or written by something else), or None."""
    if not isinstance(data, dict):
        return f"not a JSON object (a {type(data).__name__})"
    for key, ((types, want), nullable) in FIELDS.items():
        value = data.get(key)
        if key not in data or (value is None and nullable):
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{key}: expected {want}{' or null' if nullable else ''}, got {json.dumps(value)[:60]}"
    if data.get("status") is not None and data["status"] not in STATUSES:
        return f"status: expected one of {', '.join(STATUSES)}, got {json.dumps(data['status'])[:60]}"
    for key in ("best", "final"):
        bad = next((k for k, v in (data.get(key) or {}).items()
                    if v is not None and (isinstance(v, bool) or not isinstance(v, _NUMBER))), None)
        if bad is not None:
            return f"{key}.{bad}: expected a number or null, got {json.dumps(data[key][bad])[:60]}"
    if not all(isinstance(o, str) for o in data.get("overrides") or []):
        return "overrides: expected a list of strings"
    return None


def load_summary(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(summary.json's content, None), (None, None) when there is none, or (None, "PATH: what is wrong")."""
    path = Path(run_dir) / SUMMARY_FILE
    try:
        text = read_text(path, MAX_RECORD_BYTES, str(path))  # a regular file of bounded size: a FIFO never blocks
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror})"
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        return None, str(exc)
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"{path}: not valid JSON ({exc})"
    problem = summary_problem(data)
    return (None, f"{path}: {problem}") if problem else (data, None)


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_text(path, MAX_RECORD_BYTES, str(path)))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
