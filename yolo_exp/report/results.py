"""results.csv in YOLOv5's exact layout, and results.png drawn from it."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from yolo_exp.atomic import atomic_write_text
from yolo_exp.metrics.fitness import METRICS

# YOLOv5's column of each metric (metrics/fitness.METRICS): the file format, which YOLOv5's own tools read.
METRIC_COLUMNS = dict(zip(METRICS, ("metrics/precision", "metrics/recall", "metrics/mAP_0.5",
                                    "metrics/mAP_0.5:0.95")))
LOSSES = ("box", "obj", "cls")
COLUMNS = ("epoch", *(f"train/{k}_loss" for k in LOSSES), *METRIC_COLUMNS.values(),
           *(f"val/{k}_loss" for k in LOSSES), "x/lr0", "x/lr1", "x/lr2")


def epoch_row(epoch: int, train_losses: Sequence[float], metrics: Mapping[str, float], val_losses: Sequence[float],
              lrs: Sequence[float]) -> dict[str, float]:
    """An epoch's results.csv row (metrics by their one name; 0 when the epoch was not validated, as YOLOv5)."""
    return {"epoch": float(epoch), **{f"train/{k}_loss": float(v) for k, v in zip(LOSSES, train_losses)},
            **{c: float(metrics.get(m, 0.0)) for m, c in METRIC_COLUMNS.items()},
            **{f"val/{k}_loss": float(v) for k, v in zip(LOSSES, val_losses)},
            **{f"x/lr{i}": float(lr) for i, lr in enumerate(lrs[:3])}}


def row_metrics(row: Mapping[str, float]) -> dict[str, float]:
    """The metrics of a results.csv row (or of a mapping already keyed by the metrics' names)."""
    return {m: row[c] if c in row else row[m] for m, c in METRIC_COLUMNS.items() if c in row or m in row}


def _line(cells: Sequence[str]) -> str:
    return ",".join(f"{c:>20s}" for c in cells) + "\n"


def append_row(path: Path, row: Mapping[str, float]) -> None:
    """One epoch per line, fixed width like YOLOv5 (readers strip the padding). YOLOv5's columns come first; a
    column a callback adds goes after them, and a column first seen in a later epoch widens the header (earlier
    rows get an empty cell)."""
    header = list(COLUMNS) + [c for c in row if c not in COLUMNS]
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        old = [h.strip() for h in lines[0].split(",")] if lines else []
        header = old + [c for c in header if c not in old]
        if lines and header != old:
            pad = "," + " " * 20
            atomic_write_text(path, _line(header) + "".join(ln.rstrip("\n") + pad * (len(header) - len(old))
                                                            + "\n" for ln in lines[1:]))
    else:
        atomic_write_text(path, _line(header))
    with open(path, "a") as f:
        f.write(",".join(f"{row[c]:>20.5g}" if c in row else " " * 20 for c in header) + "\n")


def read_results(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    return [{h: float(v) for h, v in zip(header, r) if v.strip()} for r in rows[1:] if r]


def truncate_after(path: Path, epoch: int) -> None:
    """Drop rows after `epoch` (resume from a checkpoint older than the last written row)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [ln for ln in lines[1:] if float(ln.split(",")[0]) <= epoch]
    if len(kept) < len(lines):  # a kill during this rewrite must not lose the history
        atomic_write_text(path, "".join(kept))


def plot_results(csv_path: Path, out: Path | None = None, panels: Sequence[str] = COLUMNS[1:11]) -> Path:
    """results.png: 2x5 panels (train losses, P, R, val losses, mAPs) against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_results(csv_path)
    out = out or csv_path.with_name("results.png")
    order = [panels[i] for i in (0, 1, 2, 3, 4, 7, 8, 9, 5, 6)]  # YOLOv5's panel order
    fig, axes = plt.subplots(2, 5, figsize=(12, 6), tight_layout=True)
    epochs = [r["epoch"] for r in rows]
    for ax, key in zip(axes.ravel(), order):
        ax.plot(epochs, [r.get(key, float("nan")) for r in rows], marker=".", linewidth=2, markersize=8)
        ax.set_title(key, fontsize=12)
    fig.savefig(out, dpi=200)
    plt.close(fig)
    return out
