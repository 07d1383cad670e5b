"""Find run folders under any mix of paths and load what each one holds, for tables and plots."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from yolo_exp.report.run_reader import read_results_csv, read_run

RUN_MARKERS = (".hydra", "summary.json", "results.csv")
BOOKKEEPING = ("trial.", "resume")  # what a sweeper adds to find its own record or extend a run: not parameters


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def _natural_key(path: Path) -> list[Any]:
    """Job folders 2 before 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Each path is a run folder or a folder holding runs (a sweep, outputs/, ...); order kept, no repeats."""
    found: list[Path] = []
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        if is_run_dir(root):
            candidates = [root]
        else:
            candidates = []
            stack = [root]
            while stack:  # depth-first, not descending into runs (their weights/ and plots are not runs)
                for child in sorted((p for p in stack.pop().iterdir() if p.is_dir()), key=_natural_key):
                    if child.name.startswith("."):
                        continue
                    (candidates.append if is_run_dir(child) else stack.append)(child)
            candidates.sort(key=_natural_key)
        for run in candidates:
            if run.resolve() not in {f.resolve() for f in found}:
                found.append(run)
    return found


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """`key=value` strings as a dict; `+`/`++` prefixes dropped, `~key` deletions kept as key -> '~'."""
    out: dict[str, str] = {}
    for ov in overrides:
        if ov.startswith("~"):
            out[ov[1:].split("=", 1)[0]] = "~"
            continue
        key, _, value = ov.lstrip("+").partition("=")
        out[key] = value
    return out


@dataclass
class RunRecord:
    """One run folder: its summary (`read_run`), the parameters that label it, and its per-epoch history."""

    run_dir: Path
    info: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    label: str = ""  # how tables name the run when its folder's name alone is ambiguous (see name_runs)

    @property
    def name(self) -> str:
        return self.label or self.run_dir.name

    @property
    def status(self) -> str:
        return str(self.info.get("status", "unknown"))


def load_run(run_dir: str | Path) -> RunRecord:
    """Group choices (Hydra's own hydra/* groups excluded) overlaid by the command-line overrides."""
    run_dir = Path(run_dir)
    info = read_run(run_dir)
    params = {k: str(v) for k, v in (info.get("choices") or {}).items()
              if not str(k).startswith("hydra/") and v is not None}  # an optional group left off: absent
    params.update({k: v for k, v in parse_overrides(info.get("overrides") or []).items()
                   if not k.startswith(BOOKKEEPING)})
    return RunRecord(run_dir, info, params, read_results_csv(run_dir / "results.csv"))


def name_runs(records: list[RunRecord]) -> None:
    """Runs of several folders (two sweeps' job 0, ...) are named by their path below the folder they share
    (``sweep-a/0``, ``sweep-b/0``); runs of one folder keep their own folder's name (a sweep's job number)."""
    if len({r.run_dir.resolve().parent for r in records}) < 2:
        return
    common = Path(os.path.commonpath([str(r.run_dir.resolve()) for r in records]))
    for r in records:
        r.label = str(r.run_dir.resolve().relative_to(common))


def swept_keys(sweep_dir: Path) -> list[str]:
    """The keys a sweep's command line sweeps (``hyp.lr0=0.05,0.01``, ``interval(...)``; from its multirun.yaml),
    so its table has their columns from the first job on, before two jobs differ."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        saved = yaml.safe_load((Path(sweep_dir) / "multirun.yaml").read_text(encoding="utf-8")) or {}
        hydra = saved.get("hydra") or {}
        task = list((hydra.get("overrides") or {}).get("task") or [])
        task += [f"{k}={v}" for k, v in ((hydra.get("sweeper") or {}).get("params") or {}).items()]
        parsed = OverridesParser.create().parse_overrides(task)
    except Exception:  # noqa: BLE001 - no or an unreadable multirun.yaml: the columns come from the runs alone
        return []
    return [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]


def differing_keys(records: list[RunRecord]) -> list[str]:
    """Parameters whose value is not the same in every run (absent counts as a value), first-seen order."""
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r.params))
    return [k for k in keys if len({r.params.get(k) for r in records}) > 1]


def run_label(record: RunRecord, keys: list[str]) -> str:
    """`k=v k2=v2` from the differing parameters; the folder name when nothing differs."""
    parts = [f"{k}={record.params[k]}" for k in keys if k in record.params]
    return " ".join(parts) or record.name
