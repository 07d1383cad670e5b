"""Metric figures: PR, F1/P/R-vs-confidence curves and the confusion matrix, as YOLOv5 draws them.

Uses matplotlib's object API (``Figure`` + ``savefig``) so no pyplot state or global backend switch is involved.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from yolo_exp.metrics.ap import APResult, smooth

DPI = 250
MAX_LEGEND_CLASSES = 20  # beyond this per-class curves are drawn grey without a legend entry


def _curve_axes(xlabel: str, ylabel: str, title: str):
    fig = Figure(figsize=(9, 6), tight_layout=True)
    ax = fig.add_subplot()
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1), title=title)
    return fig, ax


def _per_class_lines(ax, x: np.ndarray, ys: np.ndarray, labels: Sequence[str]) -> None:
    legend = 0 < len(labels) <= MAX_LEGEND_CLASSES
    for y, label in zip(ys, labels):
        if legend:
            ax.plot(x, y, linewidth=1, label=label)
        else:
            ax.plot(x, y, linewidth=1, color="grey")


def _save(fig: Figure, ax, path: Path) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)


def plot_pr_curve(px: np.ndarray, pr_curve: np.ndarray, ap50: np.ndarray, names: Sequence[str], path: Path) -> None:
    """Precision vs recall at IoU 0.5 per class (legend with AP), mean curve in bold."""
    fig, ax = _curve_axes("Recall", "Precision", "Precision-Recall Curve")
    _per_class_lines(ax, px, pr_curve, [f"{n} {a:.3f}" for n, a in zip(names, ap50)])
    if len(pr_curve):
        ax.plot(px, pr_curve.mean(0), linewidth=3, color="blue", label=f"all classes {ap50.mean():.3f} mAP@0.5")
    _save(fig, ax, path)


def plot_metric_curve(px: np.ndarray, curves: np.ndarray, names: Sequence[str], path: Path, ylabel: str) -> None:
    """A metric vs confidence per class; the bold mean is smoothed and labelled with its maximum."""
    fig, ax = _curve_axes("Confidence", ylabel, f"{ylabel}-Confidence Curve")
    _per_class_lines(ax, px, curves, names)
    if len(curves):
        y = smooth(curves.mean(0), 0.05)
        ax.plot(px, y, linewidth=3, color="blue", label=f"all classes {y.max():.2f} at {px[y.argmax()]:.3f}")
    _save(fig, ax, path)


def plot_curves(result: APResult, names: Sequence[str], save_dir: Path) -> list[Path]:
    """The four curve figures YOLOv5 writes after the final validation; ``names`` indexed by class id."""
    save_dir = Path(save_dir)
    class_names = [names[c] for c in result.classes]
    paths = [save_dir / f for f in ("PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png")]
    plot_pr_curve(result.px, result.pr_curve, result.ap50, class_names, paths[0])
    for path, curves, label in zip(paths[1:], (result.f1_curve, result.p_curve, result.r_curve),
                                   ("F1", "Precision", "Recall")):
        plot_metric_curve(result.px, curves, class_names, path, label)
    return paths


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: Path) -> None:
    """Column-normalised (by true class) matrix; entries under 0.005 left blank, numbers written when nc < 30."""
    nc = matrix.shape[0] - 1
    norm = matrix / (matrix.sum(0, keepdims=True) + 1e-9)
    norm = np.where(norm < 0.005, np.nan, norm)
    fig = Figure(figsize=(12, 9), tight_layout=True)
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax)
    if len(names) == nc and nc < 99:
        ticks = [*names, "background"]
        ax.set_xticks(range(nc + 1), ticks, rotation=90, fontsize=8 if nc < 50 else 5)
        ax.set_yticks(range(nc + 1), ticks, fontsize=8 if nc < 50 else 5)
    if nc < 30:
        for (i, j), v in np.ndenumerate(norm):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white" if v > 0.5 else "black")
    ax.set(xlabel="True", ylabel="Predicted", title="Confusion Matrix")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
