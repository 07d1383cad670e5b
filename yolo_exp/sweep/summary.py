"""Summarise a set of runs into summary.csv, summary.md and compare.png (one sweep, or anything via compare)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.sweep.plots import plot_compare
from yolo_exp.sweep.rerank import best_epoch
from yolo_exp.sweep.runs import (RunRecord, differing_keys, find_runs, load_run, name_runs, run_label,
                                 swept_keys)
from yolo_exp.sweep.table import SEED_KEY, aggregate_seeds, build_rows, columns_for, sort_rows, to_csv, to_markdown

FAILED = "failed"


@dataclass
class SweepReport:
    rows: list[dict[str, Any]]
    keys: list[str]
    columns: list[str]
    markdown: str
    csv: str
    failed: list[str] = field(default_factory=list)  # run folders whose status is failed
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. the runs saw different data or code


def provenance_warnings(records: list[RunRecord]) -> list[str]:
    """The runs compared saw different data (fingerprint of files and labels) or different code (commit, diff):
    which runs saw which version."""
    out = []
    for what in ("data", "code"):
        seen: dict[str, list[str]] = {}
        for r in records:
            value = (r.info.get("provenance") or {}).get(what)
            if value is not None:
                seen.setdefault(json.dumps(value, sort_keys=True), []).append(r.name)
        if len(seen) > 1:
            groups = "; ".join(f"{i + 1}: {_few(names)}" for i, names in enumerate(seen.values()))
            out.append(f"the runs saw different {what} ({len(seen)} versions: {groups})"[:400])
    return out


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def summarize(paths: Iterable[str | Path], out_dir: str | Path | None = None, sort: str = "fitness",
              aggregate: bool = False, plot: bool = True, fitness: dict[str, float] | None = None,
              always: Iterable[str] = ()) -> SweepReport:
    """Rows for every run under `paths`; with `out_dir`, also write summary.csv/md (+ compare.png). ``always``:
    parameter columns shown even while every run has the same value (a sweep's swept keys).

    ``fitness``: other weights (precision, recall, map50, map) to rank by; each run's best epoch is chosen again
    from its results.csv."""
    records = [load_run(p) for p in find_runs(paths)]
    name_runs(records)
    if fitness is not None:
        for record in records:
            ranked = best_epoch(record.history, fitness)
            if ranked is not None:
                record.info["best_epoch"], record.info["best"] = ranked
    keys = list(dict.fromkeys([*always, *differing_keys(records)]))
    aggregate = aggregate and SEED_KEY in keys  # nothing to group unless seeds differ
    table_keys = keys if aggregate else [k for k in keys if k != "epochs"]  # the epochs column shows done/total
    rows = build_rows(records, table_keys)
    if aggregate:
        rows, table_keys = aggregate_seeds(rows, keys)
    rows = sort_rows(rows, sort)
    columns = columns_for(table_keys, aggregate, rows)
    report = SweepReport(rows, table_keys, columns, to_markdown(rows, table_keys, aggregate), to_csv(rows, columns),
                         failed=[str(r.run_dir) for r in records if r.status == FAILED],
                         warnings=[f"{r.info['summary_error']}; shown from results.csv" for r in records
                                   if r.info.get("summary_error")] + provenance_warnings(records))
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_text(out / "summary.csv", report.csv)
        atomic_write_text(out / "summary.md", report.markdown)
        report.files += [out / "summary.csv", out / "summary.md"]
        if plot and records:
            report.files.append(_plot(records, keys, out / "compare.png"))
    return report


def _plot(records: list[RunRecord], keys: list[str], path: Path) -> Path:
    return plot_compare([r.history for r in records], [run_label(r, keys) for r in records], path)


def write_sweep_summary(sweep_dir: str | Path, plot: bool = True) -> SweepReport:
    """The sweep folder's own summary: one row per job, written into the sweep folder."""
    return summarize([sweep_dir], out_dir=sweep_dir, plot=plot, always=swept_keys(Path(sweep_dir)))
