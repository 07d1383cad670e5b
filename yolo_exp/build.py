"""From a composed config to the objects a command works with: the device, the data, the models, and for training
the built parts (``build_training``, engine/parts.py) and the Trainer over them (``build_trainer``).

Every command and the benchmarks build these here and nowhere else, so ``single_cls``, the cache folder, the
checkpoint's architecture and the start-from weights mean the same everywhere. The ``model``, ``data``, ``device``
and ``optimizer`` groups are built with Hydra's ``instantiate`` from their ``_target_``; what a user's builder
returns is checked here with a one-line error.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import ConfigError, is_auto_batch, model_task
from yolo_exp.data.spec import DataSpec
from yolo_exp.engine.device import Accelerator
from yolo_exp.engine.parts import Optimization, RunData, Training
from yolo_exp.engine.seed import seed_everything
from yolo_exp.files.limits import check_classes, short
from yolo_exp.files.paths import cache_dir_of
from yolo_exp.models.weights import CheckpointError, load_weights, open_checkpoint
from yolo_exp.models.yolo import DetectionModel, build_model
from yolo_exp.models.yolov5_pickle import YoloV5Checkpoint


def built(group: str, node: Any, expected: type, **kwargs: Any) -> Any:
    """``instantiate`` a group's node; its ``_target_`` must build an ``expected`` (or a subclass)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        obj = instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        if "Error in call to target" in str(exc) and exc.__cause__ is not None:
            raise exc.__cause__  # the builder's own error (a missing dataset, say), as it raised it
        raise ConfigError(f"{group}._target_={node._target_!r}: cannot be imported and called "
                          f"({exc.__cause__ or exc})".splitlines()[0]) from None
    if not isinstance(obj, expected):
        raise ConfigError(f"{group}._target_={node._target_!r}: built a {type(obj).__name__}, not a "
                          f"{expected.__module__}.{expected.__name__} (or a subclass of it)")
    return obj


def accelerator(cfg: DictConfig) -> Accelerator:
    """The ``device`` group built: device, autocast, GradScaler, channels_last, compile."""
    return built("device", cfg.device, Accelerator)


def run_data(cfg: DictConfig, task: str = "detect") -> RunData:
    """The dataset of a train or val config (the shapes demo is generated here on first use; for a ``segment``
    model, its segmentation twin)."""
    cache_dir = cache_dir_of(cfg.cache_dir)
    node = cfg.data
    if task == "segment" and OmegaConf.select(node, "shapes") is not None:
        node = OmegaConf.merge(node, {"shapes": {"segments": True}})
    spec = built("data", node, DataSpec, cache_dir=cache_dir)
    nc = 1 if cfg.single_cls else spec.nc
    names = ["item"] if cfg.single_cls and spec.nc > 1 else list(spec.names)
    return RunData(spec, nc, names, cache_dir)


def task_dataset(spec: DataSpec, task: str) -> Any:
    """The dataset class for a model's task: the data group's own, where the standard YoloDataset means
    SegmentDataset (batches with masks) for a segment model; a mismatch is a one-line error."""
    from yolo_exp.data.dataset import YoloDataset
    from yolo_exp.data.segment_dataset import SegmentDataset

    chosen = spec.dataset
    cls = getattr(chosen, "func", chosen) or YoloDataset  # a `_partial_: true` node builds a functools.partial
    if task == "segment" and cls is YoloDataset:
        return functools.partial(SegmentDataset, *getattr(chosen, "args", ()), **getattr(chosen, "keywords", {}))
    gives_masks = isinstance(cls, type) and issubclass(cls, SegmentDataset)
    if task == "segment" and not gives_masks:
        raise ConfigError(f"data.dataset builds {getattr(cls, '__name__', cls)}, which gives no masks: a segment "
                          "model needs yolo_exp.data.segment_dataset.SegmentDataset (or a subclass)")
    if task == "detect" and gives_masks:
        raise ConfigError(f"data.dataset builds {cls.__name__}, whose batches carry masks: a detect model trains "
                          "on yolo_exp.data.dataset.YoloDataset (polygon labels give it their boxes)")
    return chosen


def check_polygons(dataset: Any, task: str, split: str) -> None:
    """A segment model cannot learn masks from box-only labels (YOLOv5-seg fails on them further in)."""
    if task == "segment" and not any(len(s) for s in dataset.segments):
        raise ConfigError(f"model.task=segment: the {split} labels have no polygons (segmentation rows are "
                          "`class x1 y1 x2 y2 x3 y3 ...`); use a segmentation dataset or a detect model")


def describe_weights(ckpt: object, path: str | Path) -> tuple[dict[str, Any], int, list[str] | None]:
    """(architecture, nc, class names) of an opened checkpoint (``open_checkpoint``), ours or YOLOv5's."""
    if isinstance(ckpt, YoloV5Checkpoint):
        if ckpt.yaml is None:
            raise ValueError(f"{path}: a YOLOv5 checkpoint without its model yaml; cannot rebuild the network")
        arch = dict(ckpt.yaml)
        if "task" not in arch and str((arch.get("head") or [[None] * 3])[-1][2]) == "Segment":
            arch["task"] = "segment"  # YOLOv5's yamls say it only by their last layer
        return arch, int(ckpt.nc), ckpt.names
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
    check_classes(nc, f"weights={path}")
    names = list(names or own or [f"class{i}" for i in range(nc)])
    try:
        model = build_model(arch, nc=nc, names=names)
    except (ValueError, KeyError, TypeError) as exc:  # the architecture is data from the file
        raise CheckpointError(f"weights={path}: its architecture cannot be built: {short(str(exc))}") from None
    load_weights(model, path, log=log, ckpt=ckpt)
    return model.eval(), names


def config_model(cfg: DictConfig, nc: int, names: list[str] | None = None) -> DetectionModel:
    """The ``model`` group built (YOLOv5's architecture as data, or the user's factory); ``hyp.anchors`` replaces
    its anchors by a count for AutoAnchor, as in YOLOv5."""
    anchors = {"anchors": int(cfg.hyp.anchors)} if cfg.hyp.anchors else {}
    return built("model", cfg.model, DetectionModel, nc=nc, names=names, **anchors)


def train_model(cfg: DictConfig, data: RunData, resuming: bool, log: logging.Logger) -> DetectionModel:
    """The model a training run starts from, with the ``weights`` to start from (not when resuming: last.pt has
    them)."""
    model = config_model(cfg, data.nc, data.names)
    if cfg.weights and not resuming:  # new anchors (hyp.anchors) are not overwritten: AutoAnchor sets them
        load_weights(model, cfg.weights, exclude=("anchors",) if cfg.hyp.anchors else (), log=log)
    return model


def train_loaders(cfg: DictConfig, run: RunData, imgsz: int, stride: int, hyp: dict[str, Any],
                  task: str = "detect") -> tuple[Any, ...]:
    """(train loader, train set, val loader, val set): this rank's share of the batch with YOLOv5's augmentation;
    on rank 0 the validation loader (twice the batch, rectangular). Rank 0 builds the label caches first."""
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.parallel import dist

    rank_batch = cfg.batch_size // dist.world_size()
    common = {"workers": cfg.workers, "seed": cfg.seed, "single_cls": cfg.single_cls, "cache_dir": run.cache_dir,
              "dataset_class": task_dataset(run.spec, task)}
    if task == "segment":
        common["dataset_class"] = functools.partial(common["dataset_class"], mask_ratio=cfg.mask_ratio,
                                                    overlap=cfg.overlap_mask)
    with dist.main_first():
        train_loader, train_set = create_dataloader(
            run.spec.train, imgsz, rank_batch, stride, run.nc, hyp=hyp, augment=True, rect=cfg.rect,
            shuffle=not cfg.rect, cache=str(getattr(cfg.cache, "value", cfg.cache)), prefix="train: ",
            image_weights=cfg.image_weights, rank=dist.rank(), world_size=dist.world_size(),
            gpu_augment=bool(cfg.data.get("gpu_augment", False)), **common)
    val_loader = val_set = None
    if dist.is_main():
        val_loader, val_set = create_dataloader(run.spec.val, imgsz, rank_batch * 2, stride, run.nc, hyp=None,
                                                augment=False, rect=True, pad=0.5, shuffle=False, prefix="val: ",
                                                **common)
    return train_loader, train_set, val_loader, val_set


def optimization(cfg: DictConfig, model: Any, hyp: dict[str, Any], accel: Accelerator,
                 log: logging.Logger) -> Optimization:
    """The optimizer (the ``optimizer`` group's class through ``instantiate``, YOLOv5's three parameter groups),
    the LR factor, EMA and the loss scaler of a training run."""
    from hydra.utils import instantiate

    from yolo_exp.engine.ema import ModelEMA
    from yolo_exp.engine.optim import build_optimizer, lr_lambda

    optimizer, accumulate = build_optimizer(instantiate(cfg.optimizer), model, hyp, cfg.batch_size, nbs=cfg.nbs,
                                            log=log.info)
    lf = lr_lambda(cfg.epochs, hyp["lrf"], cfg.cos_lr)
    fused = bool(optimizer.defaults.get("fused"))
    return Optimization(optimizer, accumulate, lf, ModelEMA(model), accel.grad_scaler(fused_optimizer=fused))


def round_imgsz(imgsz: int, stride: int, log: logging.Logger) -> int:
    new = max(math.ceil(imgsz / stride) * stride, 2 * stride)
    if new != imgsz:
        log.warning("imgsz=%d is not a multiple of the model's max stride %d: using %d", imgsz, stride, new)
    return new


def build_training(cfg: DictConfig, folder: Any, log: logging.Logger) -> Training:
    """Every part of a training run, in an order that draws the random numbers YOLOv5's does: device and seeds,
    last.pt (when resuming), data, model, loaders, the first look at the labels (AutoAnchor), loss, optimizer."""
    from yolo_exp.engine.autobatch import auto_batch
    from yolo_exp.engine.checkpoint import load_checkpoint
    from yolo_exp.engine.optim import freeze_layers
    from yolo_exp.files.atomic import atomic_write_text
    from yolo_exp.loss.detect import DetectionLoss, scale_hyp_gains
    from yolo_exp.loss.segment import SegmentationLoss
    from yolo_exp.models.summary import layer_table
    from yolo_exp.parallel import dist

    accel = accelerator(cfg)
    accel.device = dist.setup(accel.device)
    seed_everything(cfg.seed, cfg.deterministic, accel.cudnn_benchmark)
    resume_ckpt = load_checkpoint(folder.path / "weights" / "last.pt") if cfg.resume else None
    if not resume_ckpt and dist.is_main():
        folder.start_over()
    task = model_task(cfg)
    with dist.main_first():  # rank 0 generates the dataset, the others then find it
        data = run_data(cfg, task)
    model = accel.place(train_model(cfg, data, bool(resume_ckpt), log))
    gs = int(model.stride.max())
    imgsz = round_imgsz(cfg.imgsz, gs, log)
    if is_auto_batch(cfg.batch_size):  # before anything sized by the batch; recorded so that a resume reuses it
        cfg.batch_size = auto_batch(model, imgsz, accel, cfg.autobatch_fraction, log, dist.world_size())
        atomic_write_text(folder.path / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    log.info("\n%s", layer_table(model))
    model.info(imgsz=640, log=log)  # YOLOv5 reports GFLOPs at 640 whatever the training size
    if cfg.freeze:
        freeze = cfg.freeze if isinstance(cfg.freeze, int) else list(cfg.freeze)
        log.info("freezing %d parameter tensors", len(freeze_layers(model, freeze)))
    hyp = OmegaConf.to_container(cfg.hyp, resolve=True)
    loaders = train_loaders(cfg, data, imgsz, gs, hyp, model.task)
    check_polygons(loaders[1], model.task, "train")
    first_look(cfg, model, data, loaders[1], loaders[3], imgsz, hyp, fresh=not resume_ckpt, folder=folder,
               accel=accel, log=log)
    gains = scale_hyp_gains(hyp, nc=data.nc, nl=model.detect.nl, imgsz=imgsz)
    loss = SegmentationLoss(model.detect.anchors, data.nc, gains, overlap=loaders[1].overlap) \
        if model.task == "segment" else DetectionLoss(model.detect.anchors, data.nc, gains)
    opt = optimization(cfg, model, hyp, accel, log)
    step_model = dist.wrap(model, accel.device, cfg.sync_bn, log)  # DDP after AutoAnchor and EMA
    step_model = accel.compiled(step_model)
    return Training(accel, data, model, step_model, imgsz, hyp, *loaders, loss, opt, resume_ckpt)


def first_look(cfg: DictConfig, model: DetectionModel, data: RunData, train_set: Any, val_set: Any, imgsz: int,
               hyp: dict[str, Any], fresh: bool, folder: Any, accel: Accelerator,
               log: logging.Logger) -> None:
    """What the data says before training: provenance, labels.jpg, AutoAnchor (rank 0, fresh runs)."""
    import torch

    from yolo_exp.data.label_cache import data_fingerprint
    from yolo_exp.models.autoanchor import check_anchors
    from yolo_exp.parallel import dist
    if folder.summary is not None:  # what compare needs to tell runs on other data apart (summary.json)
        seen = {split: {"fingerprint": data_fingerprint(ds.im_files, ds.labels), "images": len(ds.im_files),
                        "boxes": int(sum(len(lb) for lb in ds.labels))}
                for split, ds in (("train", train_set), ("val", val_set))}
        folder.provenance(
            model={"params": sum(p.numel() for p in model.parameters())},
            device=torch.cuda.get_device_name(accel.device) if accel.cuda else str(accel.device),
            data={split: facts["fingerprint"] for split, facts in seen.items()})
        change = folder.data_segment(seen)  # each segment of training (a start, every resume) keeps its own
        if change:
            log.warning("resume: %s", change)
    if fresh and dist.is_main():
        folder.labels(train_set.labels, data.names)
        if cfg.autoanchor:
            check_anchors(model, train_set.shapes, train_set.labels, thr=hyp["anchor_t"], imgsz=imgsz,
                          seed=cfg.seed, log=log)
            model.half().float()  # as YOLOv5: anchors (and weights) at FP16 precision from the start
    dist.sync_module(model)  # every rank starts from rank 0's weights and anchors


def build_trainer(cfg: DictConfig, run_dir: Path, summary: Any = None, callbacks: Any = None,
                  trainer_class: Any = None) -> Any:
    """A Trainer (or ``trainer_class``, a subclass) over the run's parts; ``summary``: a RunSummary to write."""
    from yolo_exp.engine.settings import TrainSettings
    from yolo_exp.engine.trainer import LOG, Trainer
    from yolo_exp.report.run_folder import RunFolder

    folder = RunFolder(run_dir, summary, plots=not cfg.noplots)
    parts = build_training(cfg, folder, LOG)
    return (trainer_class or Trainer)(parts, TrainSettings.of(cfg, parts.accel.amp, parts.data.nc), folder, callbacks)
