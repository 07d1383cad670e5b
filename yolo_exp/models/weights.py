"""Load weights into a DetectionModel from our checkpoints or official YOLOv5 ones, by name and shape."""
from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yolo_exp.files.limits import check_zip_sizes, short
from yolo_exp.models.yolov5_pickle import YoloV5Checkpoint, read_yolov5_checkpoint

LOGGER = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A file that is not a checkpoint we can read; the message names the file and says why."""


def torch_load(path: str | Path) -> Any:
    """The project's one ``torch.load``: plain data only (``weights_only``), and a one-line reason for a file that
    is empty, truncated or not a checkpoint at all. ``pickle.UnpicklingError`` (pickled code, as in YOLOv5's
    files) is left to the caller, who may read the file with the restricted YOLOv5 reader."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a zip archive: truncated, or another format)")
    try:
        check_zip_sizes(path)  # before anything is inflated
    except (ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(short(str(exc))) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip but not torch's layout, or a damaged member
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason[:120]})") from None


def _pick_state_dict(ckpt: object, path: Path) -> Mapping[str, torch.Tensor]:
    """EMA weights when the checkpoint has them (what validation uses), else the raw model, else itself."""
    if isinstance(ckpt, Mapping):
        for key in ("ema", "model"):
            sd = ckpt.get(key)
            if isinstance(sd, Mapping) and sd:
                return sd
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise CheckpointError(f"{path}: holds a {type(ckpt).__name__} with no weights under 'ema' or 'model'")


def open_checkpoint(path: str | Path) -> object:
    """Ours (plain data, ``weights_only``) or an official YOLOv5 file (``YoloV5Checkpoint``, read by the restricted
    reader, tried only when ``weights_only`` refuses the file). Neither runs pickled code."""
    try:
        return torch_load(path)
    except pickle.UnpicklingError:
        try:
            return read_yolov5_checkpoint(path)
        except Exception as exc:  # noqa: BLE001 - whatever the reader met, the file is not one we can use
            raise CheckpointError(f"{path}: refused: neither a yolo-exp checkpoint nor an official YOLOv5 one we "
                                  f"can read without running its code ({str(exc).splitlines()[0][:120]})") from None


def state_dict_of(ckpt: object, path: str | Path) -> Mapping[str, torch.Tensor]:
    """Tensors of an opened checkpoint (``open_checkpoint``), ours or YOLOv5's."""
    return ckpt.state_dict if isinstance(ckpt, YoloV5Checkpoint) else _pick_state_dict(ckpt, Path(path))


def read_state_dict(path: str | Path) -> Mapping[str, torch.Tensor]:
    return state_dict_of(open_checkpoint(path), path)


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
                 log: logging.Logger = LOGGER, ckpt: object = None) -> tuple[int, int]:
    """Transfer what fits from a checkpoint; with another nc everything but Detect's output convs transfers.

    Pass ``exclude=("anchors",)`` to keep the model's own anchors (YOLOv5 does so when training from a yaml).
    ``ckpt``: the file already opened (``open_checkpoint``), so that a command reads it once.
    Returns (transferred, items in the model's state_dict).
    """
    names = transfer_state(model, state_dict_of(ckpt, path) if ckpt is not None else read_state_dict(path), exclude)
    total = len(model.state_dict())
    log.info("Transferred %d/%d items from %s", len(names), total, path)
    if len(names) < total / 2:
        log.warning("weights=%s: only %d of the model's %d tensors matched by name and shape; most of the model "
                    "starts from scratch. Is it a checkpoint of this architecture (model=...)?", path, len(names),
                    total)
    return len(names), total
