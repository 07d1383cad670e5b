"""results.csv in YOLOv5's exact layout, and results.png drawn from it."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.files.limits import MAX_RECORD_BYTES, read_text
from yolo_exp.metrics.fitness import METRICS

# YOLOv5's column of each metric (metrics/fitness.METRICS): the file format, which YOLOv5's own tools read.
METRIC_COLUMNS = dict(zip(METRICS, ("metrics/precision", "metrics/recall", "metrics/mAP_0.5",
                                    "metrics/mAP_0.5:0.95")))
LOSSES = ("box", "obj", "cls")
SEG_LOSSES = ("box", "seg", "obj", "cls")  # a segmentation model's loss items
# segmentation: YOLOv5-seg's columns, box metrics marked (B) and mask metrics (M)
SEG_METRIC_COLUMNS = {**{m: f"{c}(B)" for m, c in METRIC_COLUMNS.items()},
                      **{f"mask_{m}": f"{c}(M)" for m, c in METRIC_COLUMNS.items()}}


def loss_names(n: int) -> tuple[str, ...]:
    """The names of a loss's ``n`` items: detection's three or segmentation's four."""
    return SEG_LOSSES if n == len(SEG_LOSSES) else LOSSES


def _columns(losses: Sequence[str], metric_columns: Mapping[str, str]) -> tuple[str, ...]:
    return ("epoch", *(f"train/{k}_loss" for k in losses), *metric_columns.values(),
            *(f"val/{k}_loss" for k in losses), "x/lr0", "x/lr1", "x/lr2")


COLUMNS = _columns(LOSSES, METRIC_COLUMNS)
SEG_COLUMNS = _columns(SEG_LOSSES, SEG_METRIC_COLUMNS)


def epoch_row(epoch: int, train_losses: Sequence[float], metrics: Mapping[str, float], val_losses: Sequence[float],
              lrs: Sequence[float]) -> dict[str, float]:
    """An epoch's results.csv row (metrics by their one name; 0 when the epoch was not validated, as YOLOv5).
    Four loss items mean a segmentation run: YOLOv5-seg's columns."""
    losses = loss_names(len(train_losses))
    columns = SEG_METRIC_COLUMNS if losses == SEG_LOSSES else METRIC_COLUMNS
    return {"epoch": float(epoch), **{f"train/{k}_loss": float(v) for k, v in zip(losses, train_losses)},
            **{c: float(metrics.get(m, 0.0)) for m, c in columns.items()},
            **{f"val/{k}_loss": float(v) for k, v in zip(losses, val_losses)},
            **{f"x/lr{i}": float(lr) for i, lr in enumerate(lrs[:3])}}


def row_metrics(row: Mapping[str, float]) -> dict[str, float]:
    """The metrics of a results.csv row (or of a mapping already keyed by the metrics' names)."""
    columns = SEG_METRIC_COLUMNS if "train/seg_loss" in row or "mask_map" in row else METRIC_COLUMNS
    return {m: row[c] if c in row else row[m] for m, c in columns.items() if c in row or m in row}


def _line(cells: Sequence[str]) -> str:
    return ",".join(f"{c:>20s}" for c in cells) + "\n"


def append_row(path: Path, row: Mapping[str, float]) -> None:
    """One epoch per line, fixed width like YOLOv5 (readers strip the padding). YOLOv5's columns come first; a
    column a callback adds goes after them, and a column first seen in a later epoch widens the header (earlier
    rows get an empty cell)."""
    base = SEG_COLUMNS if "train/seg_loss" in row else COLUMNS
    header = list(base) + [c for c in row if c not in base]
    if path.exists():
        lines = read_text(path, MAX_RECORD_BYTES, str(path)).splitlines(keepends=True)
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
    rows = list(csv.reader(read_text(path, MAX_RECORD_BYTES, str(path)).splitlines()))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    return [{h: float(v) for h, v in zip(header, r) if v.strip()} for r in rows[1:] if r]


def truncate_after(path: Path, epoch: int) -> None:
    """Drop rows after `epoch` (resume from a checkpoint older than the last written row)."""
    if not path.exists():
        return
    lines = read_text(path, MAX_RECORD_BYTES, str(path)).splitlines(keepends=True)
    kept = lines[:1] + [ln for ln in lines[1:] if float(ln.split(",")[0]) <= epoch]
    if len(kept) < len(lines):  # a kill during this rewrite must not lose the history
        atomic_write_text(path, "".join(kept))


def plot_results(csv_path: Path, out: Path | None = None) -> Path:
    """results.png: 2x5 panels (train losses, P, R, val losses, mAPs) against epoch; a segmentation run's 2x8
    (box and mask metrics), as YOLOv5's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_results(csv_path)
    out = out or csv_path.with_name("results.png")
    if rows and "train/seg_loss" in rows[0]:
        order = [SEG_COLUMNS[i] for i in (1, 2, 3, 4, 5, 6, 9, 10, 13, 14, 15, 16, 7, 8, 11, 12)]
        fig, axes = plt.subplots(2, 8, figsize=(18, 6), tight_layout=True)
    else:
        order = [COLUMNS[i] for i in (1, 2, 3, 4, 5, 8, 9, 10, 6, 7)]  # YOLOv5's panel order
        fig, axes = plt.subplots(2, 5, figsize=(12, 6), tight_layout=True)
    epochs = [r["epoch"] for r in rows]
    for ax, key in zip(axes.ravel(), order):
        ax.plot(epochs, [r.get(key, float("nan")) for r in rows], marker=".", linewidth=2, markersize=8)
        ax.set_title(key, fontsize=12)
    fig.savefig(out, dpi=200)
    plt.close(fig)
    return out
