"""Load weights into a DetectionModel from our checkpoints or official YOLOv5 ones, by name and shape."""
from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from yolo_exp.models.yolov5_pickle import read_yolov5_checkpoint

LOGGER = logging.getLogger(__name__)


def _pick_state_dict(ckpt: object, path: Path) -> Mapping[str, torch.Tensor]:
    """EMA weights when the checkpoint has them (what validation uses), else the raw model, else itself."""
    if isinstance(ckpt, Mapping):
        for key in ("ema", "model"):
            sd = ckpt.get(key)
            if isinstance(sd, Mapping) and sd:
                return sd
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise ValueError(f"{path}: no state_dict under 'ema' or 'model'")


def read_state_dict(path: str | Path) -> Mapping[str, torch.Tensor]:
    """Tensors of a checkpoint: ours through ``weights_only`` loading, YOLOv5's through the restricted reader.

    Both paths refuse pickled code; the YOLOv5 reader is only tried when ``weights_only`` refuses the file.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            return read_yolov5_checkpoint(path).state_dict
        except pickle.UnpicklingError as err2:
            raise pickle.UnpicklingError(f"{path}: refused by both loaders: {err2}") from err
    return _pick_state_dict(ckpt, path)


def transfer_state(model: nn.Module, state: Mapping[str, torch.Tensor],
                   exclude: Sequence[str] = ()) -> list[str]:
    """Copy tensors whose name and shape match (dtype converted); names containing an ``exclude`` part are
    skipped. Returns the transferred names."""
    own = model.state_dict()
    matched = {k: v for k, v in state.items()
               if k in own and own[k].shape == v.shape and not any(x in k for x in exclude)}
    model.load_state_dict(matched, strict=False)
    return list(matched)


def load_weights(model: nn.Module, path: str | Path, exclude: Sequence[str] = (),
                 log: logging.Logger = LOGGER) -> tuple[int, int]:
    """Transfer what fits from a checkpoint; with another nc everything but Detect's output convs transfers.

    Pass ``exclude=("anchors",)`` to keep the model's own anchors (YOLOv5 does so when training from a yaml).
    Returns (transferred, items in the model's state_dict).
    """
    names = transfer_state(model, read_state_dict(path), exclude)
    total = len(model.state_dict())
    log.info("Transferred %d/%d items from %s", len(names), total, path)
    return len(names), total
