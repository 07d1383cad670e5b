"""The one writer of a run folder's records: results.csv rows, summary.json, and the pictures and plots.

TensorBoard and trackers are run callbacks that see the same rows (engine/callbacks.py); checkpoints are written
atomically by engine/checkpoint.py; validation's own pictures go to the folder validate() is given.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yolo_exp.report import results as results_csv
from yolo_exp.report.summary import RunSummary


class RunFolder:
    def __init__(self, run_dir: Path | str, summary: RunSummary | None = None, plots: bool = True) -> None:
        self.path = Path(run_dir)
        self.summary = summary  # summary.json, kept current (rank 0 of a job; None in tests and on other ranks)
        self.plots = plots
        self.results = self.path / "results.csv"

    def start_over(self) -> None:
        """A fresh start in a used folder (an elastic restart) forgets the earlier attempt's rows."""
        self.results.unlink(missing_ok=True)

    def truncate_after(self, epoch: int) -> None:
        """A resume from last.pt drops rows of epochs after it (written before a kill, never committed)."""
        results_csv.truncate_after(self.results, epoch)

    def provenance(self, **facts: Any) -> None:
        if self.summary is not None:
            self.summary.provenance(**facts)

    def data_segment(self, data: Mapping[str, Mapping[str, Any]]) -> str | None:
        return self.summary.data_segment(data) if self.summary is not None else None

    def labels(self, labels: Sequence[Any], names: Sequence[str]) -> None:
        if self.plots:
            from yolo_exp.report.images import plot_labels

            plot_labels(labels, names, self.path / "labels.jpg")

    def train_batch(self, index: int, imgs: Any, targets: Any, paths: Sequence[str], names: Sequence[str],
                    masks: Any = None, overlap: bool = True) -> None:
        """train_batch{index}.jpg from a batch as the model saw it (float 0-1 or uint8), with its masks (as the
        batch carries them: ``overlap`` index masks or one per target)."""
        if self.plots:
            from yolo_exp.report.images import instance_masks, plot_batch

            pixels = imgs.mul(255).byte().cpu().numpy() if imgs.is_floating_point() else imgs
            plot_batch(pixels, targets.numpy(), paths, names, self.path / f"train_batch{index}.jpg",
                       masks=None if masks is None else instance_masks(targets, masks, overlap))

    def epoch(self, epoch: int, row: Mapping[str, float], metrics: Mapping[str, float], fitness: float,
              best_epoch: int, best: Mapping[str, float]) -> None:
        results_csv.append_row(self.results, row)
        if self.summary is not None:
            self.summary.epoch_end(epoch, dict(metrics), fitness, best_epoch, dict(best))

    def results_plot(self) -> None:
        if self.plots and self.results.exists():
            results_csv.plot_results(self.results)
