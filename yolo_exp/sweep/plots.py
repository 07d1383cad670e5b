"""compare.png (per-epoch curves of several runs on shared axes) and evolve.png (hyp value vs fitness)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

# The panels of YOLOv5's results.png, in its order.
CURVES = ("train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
          "val/box_loss", "val/obj_loss", "val/cls_loss", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95")


def _figure(n_panels: int, cols: int, size: float = 3.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = max(1, math.ceil(n_panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 0.8 * rows), squeeze=False)
    return plt, fig, axes.ravel()


def plot_compare(histories: Sequence[dict[str, list[float]]], labels: Sequence[str], path: Path) -> Path:
    """One line per run in each panel; a panel whose column no run has says so instead of failing."""
    plt, fig, axes = _figure(len(CURVES), 5)
    for ax, col in zip(axes, CURVES):
        drawn = False
        for hist, label in zip(histories, labels):
            ys = hist.get(col) or hist.get(f"{col}(B)")  # a segmentation run's box figures
            if ys:
                xs = hist.get("epoch") or list(range(len(ys)))
                ax.plot(xs[:len(ys)], ys, marker=".", linewidth=1.5, markersize=4, label=label)
                drawn = True
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    handles, names = axes[-1].get_legend_handles_labels()
    if not handles:
        handles, names = next((a.get_legend_handles_labels() for a in axes if a.lines), ([], []))
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.02 * math.ceil(len(names) / 4), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_evolve(values: dict[str, list[float]], fitness: Sequence[float], path: Path) -> Path:
    """A scatter per evolved key (later generations darker), the best individual marked with a cross."""
    keys = list(values)
    plt, fig, axes = _figure(max(1, len(keys)), min(5, max(1, len(keys))), size=2.6)
    best = max(range(len(fitness)), key=lambda i: fitness[i]) if fitness else None
    order = list(range(len(fitness)))
    for ax, key in zip(axes, keys):
        ax.scatter(values[key], fitness, c=order, cmap="viridis", s=12, alpha=0.8, edgecolors="none")
        if best is not None:
            ax.plot(values[key][best], fitness[best], "k+", markersize=14, markeredgewidth=2)
            ax.set_title(f"{key} = {values[key][best]:.3g}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(keys):]:
        ax.axis("off")
    fig.supylabel("fitness", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
