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


def train_loaders(cfg: DictConfig, run: RunData, imgsz: int, stride: int, hyp: dict[str, Any]) -> tuple[Any, ...]:
    """(train loader, train set, val loader, val set): this rank's share of the batch with YOLOv5's augmentation;
    on rank 0 the validation loader (twice the batch, rectangular). Rank 0 builds the label caches first."""
    from yolo_exp import dist
    from yolo_exp.data.loader import create_dataloader

    rank_batch = cfg.batch_size // dist.world_size()
    with dist.main_first():
        train_loader, train_set = create_dataloader(
            run.spec.train, imgsz, rank_batch, stride, run.nc, hyp=hyp, augment=True, rect=cfg.rect,
            workers=cfg.workers, shuffle=not cfg.rect, seed=cfg.seed, cache=str(getattr(cfg.cache, "value", cfg.cache)),
            single_cls=cfg.single_cls, cache_dir=run.cache_dir, prefix="train: ", image_weights=cfg.image_weights,
            rank=dist.rank(), world_size=dist.world_size())
    val_loader = val_set = None
    if dist.is_main():
        val_loader, val_set = create_dataloader(
            run.spec.val, imgsz, rank_batch * 2, stride, run.nc, hyp=None, augment=False, rect=True, pad=0.5,
            workers=cfg.workers, shuffle=False, seed=cfg.seed, single_cls=cfg.single_cls, cache_dir=run.cache_dir,
            prefix="val: ")
    return train_loader, train_set, val_loader, val_set


@dataclass
class Optimization:
    optimizer: Any
    accumulate: int        # optimizer steps every `accumulate` batches (nominal batch nbs)
    lf: Any                # the LR factor per epoch (linear or cosine one-cycle)
    ema: Any               # ModelEMA
    amp: bool
    amp_dtype: Any
    scaler: Any            # GradScaler, enabled for FP16 autocast


def optimization(cfg: DictConfig, model: Any, hyp: dict[str, Any], device: Any,
                 log: logging.Logger) -> Optimization:
    """The optimizer (the ``optimizer`` group's class through ``instantiate``, YOLOv5's three parameter groups),
    the LR factor, EMA and the AMP settings of a training run."""
    import torch
    from hydra.utils import instantiate

    from yolo_exp.engine.device import amp_settings
    from yolo_exp.engine.ema import ModelEMA
    from yolo_exp.engine.optim import build_optimizer, lr_lambda

    optimizer, accumulate = build_optimizer(instantiate(cfg.optimizer), model, hyp, cfg.batch_size, nbs=cfg.nbs,
                                            log=log.info)
    lf = lr_lambda(cfg.epochs, hyp["lrf"], cfg.cos_lr)
    ema = ModelEMA(model)
    amp, amp_dtype = amp_settings(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    return Optimization(optimizer, accumulate, lf, ema, amp, amp_dtype, scaler)
