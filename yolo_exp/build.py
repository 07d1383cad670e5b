"""From a composed config to the objects a command works with: the data of a run and its models.

train.py (through the trainer), val.py and the benchmarks build these here and nowhere else, so `single_cls`,
the cache folder, the checkpoint's architecture and the start-from weights mean the same in every command.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import ConfigError
from yolo_exp.data.spec import DataSpec, resolve_data
from yolo_exp.models.weights import load_weights, open_checkpoint
from yolo_exp.models.yolo import DetectionModel, build_model
from yolo_exp.models.yolov5_pickle import YoloV5Checkpoint
from yolo_exp.paths import cache_dir_of


@dataclass(frozen=True)
class RunData:
    spec: DataSpec           # the resolved dataset (paths, names)
    nc: int                  # classes the model predicts: 1 with single_cls
    names: list[str]         # their names ("item" when single_cls merges several)
    cache_dir: Path | None   # label/image caches and the generated demo; None: ~/.cache/yolo_exp


def run_data(cfg: DictConfig) -> RunData:
    """The dataset of a train or val config (the shapes demo is generated here on first use)."""
    cache_dir = cache_dir_of(cfg.cache_dir)
    spec = resolve_data(OmegaConf.to_container(cfg.data, resolve=True), cache_dir=cache_dir)
    nc = 1 if cfg.single_cls else spec.nc
    names = ["item"] if cfg.single_cls and spec.nc > 1 else list(spec.names)
    return RunData(spec, nc, names, cache_dir)


def describe_weights(ckpt: object, path: str | Path) -> tuple[dict[str, Any], int, list[str] | None]:
    """(architecture, nc, class names) of an opened checkpoint (``open_checkpoint``), ours or YOLOv5's."""
    if isinstance(ckpt, YoloV5Checkpoint):
        if ckpt.yaml is None:
            raise ValueError(f"{path}: a YOLOv5 checkpoint without its model yaml; cannot rebuild the network")
        return dict(ckpt.yaml), int(ckpt.nc), ckpt.names
    if not isinstance(ckpt, dict) or "arch" not in ckpt:
        raise ValueError(f"{path}: not a yolo-exp checkpoint (no 'arch'); use an official YOLOv5 .pt or ours")
    return ckpt["arch"], int(ckpt["nc"]), list(ckpt.get("names") or []) or None


def checkpoint_model(path: str | Path, log: logging.Logger, data_nc: int | None = None,
                     names: list[str] | None = None) -> tuple[DetectionModel, list[str]]:
    """A checkpoint's own network with its weights, in eval mode, and its class names (``names``, when given,
    are the data's; ``data_nc`` checks the weights were trained for that many classes)."""
    ckpt = open_checkpoint(path)  # read once, without running pickled code
    arch, nc, own = describe_weights(ckpt, path)
    if data_nc is not None and nc != data_nc:
        raise ConfigError(f"weights={path} has nc={nc} but the data has nc={data_nc}: validate on the data the "
                          "weights were trained for")
    names = list(names or own or [f"class{i}" for i in range(nc)])
    model = build_model(arch, nc=nc, names=names)
    load_weights(model, path, log=log, ckpt=ckpt)
    return model.eval(), names


def eval_model(path: str | Path, data_nc: int, names: list[str], log: logging.Logger) -> DetectionModel:
    """A checkpoint's model for validation on data with ``data_nc`` classes named ``names``."""
    return checkpoint_model(path, log, data_nc, names)[0]


def train_model(cfg: DictConfig, data: RunData, resuming: bool, log: logging.Logger) -> DetectionModel:
    """The model a training run starts from: ``model`` (architecture as data; ``hyp.anchors`` replaces its anchors
    by a count for AutoAnchor) with the ``weights`` to start from (not when resuming: last.pt has them)."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    if cfg.hyp.anchors:  # YOLOv5: an anchor count in the hyps replaces the model's anchors -> AutoAnchor
        arch["anchors"] = int(cfg.hyp.anchors)
    model = build_model(arch, nc=data.nc, names=data.names)
    if cfg.weights and not resuming:  # new anchors (hyp.anchors) are not overwritten: AutoAnchor sets them
        load_weights(model, cfg.weights, exclude=("anchors",) if cfg.hyp.anchors else (), log=log)
    return model
