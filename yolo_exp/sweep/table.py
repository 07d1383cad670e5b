"""The comparison table: one row per run (or per seed group), sorted, rendered as CSV, Markdown or JSON rows."""
from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from typing import Any

from yolo_exp.metrics.fitness import MASK_METRICS
from yolo_exp.metrics.fitness import METRICS as METRIC_NAMES
from yolo_exp.sweep.runs import RunRecord

METRICS = (*METRIC_NAMES, *MASK_METRICS, "fitness")  # mask_* columns are shown only where some run has them
# Higher is better for these; every other column sorts ascending.
DESCENDING = frozenset(METRICS)
SEED_KEY = "seed"


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def build_rows(records: list[RunRecord], keys: list[str]) -> list[dict[str, Any]]:
    """Metrics at the best epoch (from summary.json, else recovered from results.csv)."""
    rows = []
    for r in records:
        best = r.info.get("best") or {}
        done, total = r.info.get("epochs_done") or 0, r.info.get("epochs")
        row: dict[str, Any] = {"job": r.name, **{k: r.params.get(k, "") for k in keys}, "status": r.status,
                               "best_epoch": r.info.get("best_epoch")}
        if "epochs" not in keys:  # progress, done/total (which also shows an `epochs` override)
            row["epochs"] = f"{done}/{total}" if total else str(done)
        row.update({m: _num(best.get(m)) for m in METRICS})
        row["wall_time_s"] = _num(r.info.get("wall_time_s"))
        row["run_dir"] = str(r.run_dir)
        rows.append(row)
    return rows


def _status_of(statuses: list[str]) -> str:
    counts = Counter(statuses)
    if len(counts) == 1:
        return statuses[0]
    return ", ".join(f"{s}x{n}" for s, n in sorted(counts.items()))


def aggregate_seeds(rows: list[dict[str, Any]], keys: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Runs that differ only by `seed` become one row: mean, `<metric>_std` (sample std, 0 for one run) and n.

    Failed runs and missing (NaN) metrics are left out of the means; n counts every run in the group.
    """
    group_keys = [k for k in keys if k != SEED_KEY]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k, "") for k in group_keys), []).append(row)
    out = []
    for members in groups.values():
        agg: dict[str, Any] = {"job": ",".join(str(m["job"]) for m in members),
                               **{k: members[0].get(k, "") for k in group_keys}, "n": len(members),
                               "status": _status_of([m["status"] for m in members]), "best_epoch": None}
        for col in (*METRICS, "wall_time_s"):
            vals = [m[col] for m in members if not math.isnan(m.get(col, math.nan)) and m["status"] != "failed"]
            agg[col] = statistics.fmean(vals) if vals else math.nan
            agg[f"{col}_std"] = statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else math.nan)
        agg["run_dir"] = ";".join(m["run_dir"] for m in members)
        out.append(agg)
    return out, group_keys


def sort_rows(rows: list[dict[str, Any]], key: str = "fitness") -> list[dict[str, Any]]:
    """Metrics descending, other columns ascending; missing values always last. Stable for ties."""
    if rows and key not in rows[0]:
        raise KeyError(f"cannot sort by {key!r}; columns: {', '.join(rows[0])}")

    def missing(row: dict[str, Any]) -> bool:
        v = row.get(key)
        return v is None or v == "" or (isinstance(v, float) and math.isnan(v))

    present = [r for r in rows if not missing(r)]
    numeric = all(isinstance(r[key], (int, float)) for r in present)
    sort_key = (lambda r: r[key]) if numeric else (lambda r: str(r[key]))
    present.sort(key=sort_key, reverse=key in DESCENDING)
    return present + [r for r in rows if missing(r)]


def best_index(rows: list[dict[str, Any]]) -> int | None:
    """Row with the highest fitness (the first one on ties)."""
    scored = [(-r["fitness"], i) for i, r in enumerate(rows) if not math.isnan(r["fitness"])]
    return min(scored)[1] if scored else None


def shown_metrics(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The metric columns: the mask metrics only when some run is a segmentation run."""
    masks = any(not math.isnan(_num(r.get("mask_map"))) for r in rows)
    return tuple(m for m in METRICS if masks or m not in MASK_METRICS)


def columns_for(keys: list[str], aggregated: bool, rows: list[dict[str, Any]] = ()) -> list[str]:
    cols, metrics = ["best", "job", *keys], shown_metrics(list(rows))
    if aggregated:
        return [*cols, "n", "status", *(c for m in (*metrics, "wall_time_s") for c in (m, f"{m}_std")), "run_dir"]
    return [*cols, "status", "epochs", "best_epoch", *metrics, "wall_time_s", "run_dir"]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    best = best_index(rows)
    for i, row in enumerate(rows):
        writer.writerow(["*" if i == best else "", *(_cell(row.get(c)) for c in columns[1:])])
    return buf.getvalue()


def _md_value(row: dict[str, Any], col: str) -> str:
    v = row.get(col)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if col == "wall_time_s":
        text = f"{v:.1f}"
    elif isinstance(v, float):
        text = f"{v:.4f}"
    else:
        text = str(v)
    std = row.get(f"{col}_std")
    if isinstance(std, float) and not math.isnan(std):
        text += f" ± {std:.1f}" if col == "wall_time_s" else f" ± {std:.4f}"
    return text.replace("|", "\\|")


def to_markdown(rows: list[dict[str, Any]], keys: list[str], aggregated: bool) -> str:
    """A readable table: no run_dir, no separate std columns (shown as mean ± std)."""
    cols = ["job", *keys, *(["n"] if aggregated else []), "status", *([] if aggregated else ["epochs", "best_epoch"]),
            *shown_metrics(rows), "wall_time_s"]
    heads = ["", *cols[:-1], "wall time (s)"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    best = best_index(rows)
    for i, row in enumerate(rows):
        cells = ["**best**" if i == best else "", *(_md_value(row, c) for c in cols)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NaN as None (valid JSON) and the best row flagged."""
    best = best_index(rows)
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    for i, row in enumerate(clean):
        row["best"] = i == best
    return clean
