"""TensorBoard events in the run folder, with YOLOv5's scalar tags and an HParams entry.

`SummaryWriter.add_hparams` writes the HParams entry into a new sub-run (`<logdir>/<timestamp>`), which makes
every job appear twice in `tensorboard --logdir multirun/DATE/TIME`. We write the same three summaries into
the run's own event file instead, so each job is one run carrying its scalars, images and hyperparameters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

# Types the HParams plugin accepts as values; anything else is logged as its string form.
_HPARAM_TYPES = (bool, int, float, str)


def hparam_value(value: Any) -> bool | int | float | str:
    """A value the HParams plugin can store (None, lists, enums ... become strings)."""
    if isinstance(value, _HPARAM_TYPES):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _load_image(path_or_array: str | Path | np.ndarray) -> np.ndarray:
    """HWC uint8 RGB from an image file (OpenCV reads BGR) or an HWC array (RGB, gray is widened)."""
    if isinstance(path_or_array, (str, Path)):
        import cv2

        bgr = cv2.imread(str(path_or_array), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {path_or_array}")
        return bgr[..., ::-1].copy()
    img = np.asarray(path_or_array)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)
    return img


class TBLogger:
    """One SummaryWriter per run folder (rank 0 only; the caller decides)."""

    def __init__(self, log_dir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Tags as given, e.g. YOLOv5's train/box_loss ... metrics/mAP_0.5:0.95 ... x/lr2."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), int(step))

    def image(self, tag: str, path_or_array: str | Path | np.ndarray, step: int = 0) -> None:
        self.writer.add_image(tag, _load_image(path_or_array), int(step), dataformats="HWC")

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int = 0) -> None:
        """HParams entry in this run's own event file; metric tags are also written as scalars."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        clean = {str(k): hparam_value(v) for k, v in hparams.items()}
        values = {str(k): float(v) for k, v in metrics.items()}
        file_writer = self.writer._get_file_writer()  # the public add_hparams would open a sub-run
        for summary in hparams_summaries(clean, values):
            file_writer.add_summary(summary, int(step))
        self.scalars(values, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TBLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PICTURES = ("train_batch0.jpg", "labels.jpg", "PR_curve.png", "confusion_matrix.png", "results.png")


class TensorBoardLogger:
    """The run's TensorBoard events as a run callback (``logger: [tensorboard]``, the default): YOLOv5's scalars
    each epoch; at the end the HParams entry (hyps, group choices, epochs/batch/imgsz/seed -> best metrics) and the
    run's pictures."""

    def __init__(self) -> None:
        self.tb: TBLogger | None = None
        self.hparams: dict[str, Any] = {}

    def on_run_start(self, run: Any) -> None:
        cfg = run.config
        self.tb = TBLogger(run.run_dir)
        self.hparams = {f"hyp.{k}": v for k, v in (cfg.get("hyp") or {}).items() if v is not None}
        self.hparams.update({k: str(v) for k, v in run.choices.items()})
        self.hparams.update({k: cfg[k] for k in ("epochs", "batch_size", "imgsz", "seed") if k in cfg})

    def on_epoch_end(self, event: Any) -> None:
        if self.tb is not None:
            self.tb.scalars({k: v for k, v in event.row.items() if k != "epoch"}, event.epoch)

    def on_run_end(self, end: Any) -> None:
        if self.tb is None:
            return
        try:
            if end.status in ("completed", "pruned"):
                best = {k: v for k, v in end.best.items() if v is not None}
                self.tb.hparams(self.hparams, {"hparam/fitness": best.get("fitness", -1.0),
                                               **{f"hparam/{k}": v for k, v in best.items()}})
                for picture in PICTURES:
                    if (end.run_dir / picture).is_file():
                        self.tb.image(picture.rsplit(".", 1)[0], end.run_dir / picture, end.epochs_done)
        finally:
            self.tb.close()
            self.tb = None
