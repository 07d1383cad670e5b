"""The built parts of a training run, as the Trainer takes them: yolo_exp.build makes them from a config, a test or
a notebook may make them by hand (tests/engine/test_trainer.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolo_exp.data.spec import DataSpec
from yolo_exp.engine.device import Accelerator
from yolo_exp.models.yolo import DetectionModel


@dataclass(frozen=True)
class RunData:
    spec: DataSpec           # the resolved dataset (paths, names)
    nc: int                  # classes the model predicts: 1 with single_cls
    names: list[str]         # their names ("item" when single_cls merges several)
    cache_dir: Path | None   # label/image caches and the generated demo; None: ~/.cache/yolo_exp


@dataclass
class Optimization:
    optimizer: Any
    accumulate: int        # optimizer steps every `accumulate` batches (nominal batch nbs)
    lf: Any                # the LR factor per epoch (linear or cosine one-cycle)
    ema: Any               # ModelEMA
    scaler: Any            # GradScaler, enabled for FP16 autocast


@dataclass
class Training:
    """The built parts of a training run: what the Trainer works with."""

    accel: Accelerator
    data: RunData
    model: DetectionModel    # the bare model: EMA, checkpoints and freezing refer to it
    step_model: Any          # what the loop calls: the model, wrapped for DDP and/or compiled
    imgsz: int               # train/val size, a multiple of the model's largest stride
    hyp: dict[str, Any]
    train_loader: Any
    train_set: Any
    val_loader: Any          # None on ranks other than 0
    val_set: Any
    loss: Any                # DetectionLoss, or SegmentationLoss (batches with masks)
    opt: Optimization
    resume_ckpt: dict | None  # weights/last.pt of the run being resumed
