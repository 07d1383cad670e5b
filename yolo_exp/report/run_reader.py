"""A run folder read back, for the sweep summary, compare, resume and the searches.

``read_run`` tolerates runs without summary.json (it falls back to `.hydra/` and results.csv) and reports a
`running` run whose folder lock no live process holds as `interrupted` (pid and host are kept for messages only).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from yolo_exp.files.limits import MAX_RECORD_BYTES, load_yaml, read_text
from yolo_exp.files.owner import in_use
from yolo_exp.report.summary import load_summary, short_metrics


def _load_yaml(path: Path) -> Any:
    try:
        return load_yaml(path, str(path))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def read_results_csv(path: Path) -> dict[str, list[float]]:
    """results.csv as {column: values}; YOLOv5 pads names and values with spaces. Missing file -> {}."""
    try:
        lines = [ln for ln in read_text(path, MAX_RECORD_BYTES, str(path)).splitlines() if ln.strip()]
    except (OSError, ValueError):
        return {}
    if not lines:
        return {}
    header = [h.strip() for h in lines[0].split(",")]
    cols: dict[str, list[float]] = {h: [] for h in header if h}
    for line in lines[1:]:
        cells = [c.strip() for c in line.split(",")]
        for name, cell in zip(header, cells):
            if name:
                try:
                    cols[name].append(float(cell))
                except ValueError:
                    cols[name].append(math.nan)
    return cols


def _from_results(results: dict[str, list[float]]) -> dict[str, Any]:
    """best/final metrics recovered from results.csv when summary.json is absent."""
    rows = [{k: v[i] for k, v in results.items() if i < len(v)} for i in range(len(results.get("epoch", [])))]
    if not rows:
        return {}
    scored = [(short_metrics(r)["fitness"], i) for i, r in enumerate(rows)]
    scored = [(f, i) for f, i in scored if f is not None]
    best_i = max(scored)[1] if scored else None  # ties go to the later epoch, as YOLOv5's best.pt
    return {
        "final": short_metrics(rows[-1]), "epochs_done": len(rows),
        "best": short_metrics(rows[best_i]) if best_i is not None else short_metrics({}),
        "best_epoch": int(rows[best_i].get("epoch", best_i)) + 1 if best_i is not None else None,
    }


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything known about a run folder, tolerant of missing files.

    Status: from summary.json; `unknown` when there is none or it is malformed (``summary_error`` says how, in
    one line); a `running` run whose folder no live process holds
    (yolo_exp.files.owner) is reported as `interrupted` (with `status_note`). overrides/choices fall back to `.hydra/`.
    """
    run_dir = Path(run_dir)
    data, problem = load_summary(run_dir)
    out: dict[str, Any] = {
        "status": "unknown", "best_epoch": None, "best": short_metrics({}), "final": short_metrics({}),
        "epochs_done": 0, "epochs": None, "wall_time_s": None, "started": None, "ended": None,
        "overrides": [], "choices": {}, "versions": {}, "run_dir": str(run_dir.resolve()), "error": None,
    }
    if data is None:
        out.update(_from_results(read_results_csv(run_dir / "results.csv")))
        if problem:  # shown from what else the folder holds; resume refuses it (config/resume.py)
            out["summary_error"] = problem
    else:
        out.update(data)
        out["run_dir"] = str(run_dir.resolve())  # the folder may have moved since it was written
    if out["status"] == "running" and not in_use(run_dir):  # the lock, not the pid: pids are reused
        out.update(status="interrupted", status_note="process gone while status was running")
    if not out["overrides"]:
        saved = _load_yaml(run_dir / ".hydra" / "overrides.yaml")
        out["overrides"] = [str(o) for o in saved] if isinstance(saved, list) else []
    if not out["choices"]:
        hydra_cfg = _load_yaml(run_dir / ".hydra" / "hydra.yaml") or {}
        choices = ((hydra_cfg.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
        out["choices"] = {str(k): v for k, v in choices.items()}
    return out
