"""Checks that types cannot express: ranges, allowed values, paths. Each failure is one line naming the key."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

ALLOWED_OPTIMIZERS = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
PROBABILITIES = ("fliplr", "flipud", "mosaic", "mixup", "copy_paste", "label_smoothing")


class ConfigError(ValueError):
    """A bad config value; its message is the one line shown to the user."""


class SweepStop(SystemExit):
    """A sweeper's refusal or failure, shown as one line. A SystemExit, because Hydra prints a traceback for any
    Exception that leaves a sweeper (and instantiate wraps those raised while building it). ``run_entry`` prints
    it with its exit status; uncaught (another Hydra app around our sweepers), Python prints it, status 1."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(f"error: {message}")
        self.message, self.status = message, status


def model_task(cfg: Any) -> str:
    """The composed config's model task, ``detect`` or ``segment`` (the enum or its string)."""
    return str(getattr(cfg.model.task, "value", cfg.model.task))


def _require(cond: bool, key: str, rule: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}={value!r}: {rule}")


def validate(cfg: DictConfig, check_paths: bool = True) -> None:
    """Raise ConfigError for the first bad value; cheap (no torch import), so it runs before anything is built."""
    _require(cfg.epochs >= 1, "epochs", "must be an integer >= 1", cfg.epochs)
    _require(cfg.batch_size >= 1, "batch_size", "must be an integer >= 1", cfg.batch_size)
    _require(cfg.nbs >= 1, "nbs", "must be an integer >= 1", cfg.nbs)
    _require(cfg.imgsz >= 32, "imgsz", "must be an integer >= 32", cfg.imgsz)
    _require(cfg.workers >= 0, "workers", "must be an integer >= 0", cfg.workers)
    _require(cfg.patience >= 0, "patience", "must be >= 0 (0 disables early stopping)", cfg.patience)
    _require(cfg.close_mosaic >= 0, "close_mosaic", "must be >= 0", cfg.close_mosaic)
    freeze = cfg.freeze
    ok = isinstance(freeze, int) and freeze >= 0 or (
        not isinstance(freeze, (int, str, float)) and all(isinstance(i, int) and i >= 0 for i in freeze))
    _require(ok, "freeze", "must be N >= 0 (layers 0..N-1) or a list of layer indices", freeze)

    hyp = cfg.hyp
    _require(hyp.lr0 > 0, "hyp.lr0", "must be > 0", hyp.lr0)
    _require(0 < hyp.lrf <= 1, "hyp.lrf", "must be in (0, 1]", hyp.lrf)
    _require(0 <= hyp.momentum < 1, "hyp.momentum", "must be in [0, 1)", hyp.momentum)
    _require(hyp.weight_decay >= 0, "hyp.weight_decay", "must be >= 0", hyp.weight_decay)
    _require(hyp.warmup_epochs >= 0, "hyp.warmup_epochs", "must be >= 0", hyp.warmup_epochs)
    _require(hyp.anchor_t > 1, "hyp.anchor_t", "must be > 1", hyp.anchor_t)
    for key in PROBABILITIES:
        _require(0 <= hyp[key] <= 1, f"hyp.{key}", "must be a probability in [0, 1]", hyp[key])
    for key in ("box", "cls", "obj", "cls_pw", "obj_pw", "fl_gamma", "hsv_h", "hsv_s", "hsv_v", "degrees",
                "translate", "scale", "shear", "perspective"):
        _require(hyp[key] >= 0, f"hyp.{key}", "must be >= 0", hyp[key])

    weights = {k: float(v) for k, v in cfg.fitness.items() if v is not None}
    _require(all(w >= 0 for w in weights.values()) and any(w > 0 for w in weights.values()), "fitness",
             "weights must be >= 0 and not all 0 (YOLOv5's: fitness.map50=0.1 fitness.map=0.9)", weights)
    _require(cfg.optimizer._target_ in ALLOWED_OPTIMIZERS, "optimizer._target_",
             f"must be one of {', '.join(ALLOWED_OPTIMIZERS)}", cfg.optimizer._target_)
    task = model_task(cfg)
    for key in (k for k, v in cfg.fitness.items() if k.startswith("mask_") and v is not None):
        _require(task == "segment", f"fitness.{key}", "weighs a mask metric: set it for segment models only "
                 "(model=yolov5n-seg, ...)", cfg.fitness[key])
    _require(cfg.mask_ratio >= 1, "mask_ratio", "must be >= 1 (YOLOv5's 4: masks at a quarter of the image)",
             cfg.mask_ratio)
    _require(0 < cfg.val.iou_thres <= 1, "val.iou_thres", "must be in (0, 1]", cfg.val.iou_thres)
    _require(0 <= cfg.val.conf_thres < 1, "val.conf_thres", "must be in [0, 1)", cfg.val.conf_thres)
    if check_paths:  # the environment: files and devices
        check_device(cfg.device)
        check_data_paths(cfg.data)
        for key in ("weights",):
            if cfg[key] is not None:
                _require(Path(cfg[key]).expanduser().is_file(), key, "file not found", cfg[key])


def check_device(device: DictConfig) -> None:
    """device=cuda on a machine without CUDA: say so before anything is built (torch is imported only then)."""
    _require(device.compile_mode in COMPILE_MODES, "device.compile_mode", f"must be one of {', '.join(COMPILE_MODES)}",
             device.compile_mode)
    if str(getattr(device.type, "value", device.type)) != "cuda":
        return
    import torch

    _require(torch.cuda.is_available(), "device.type", "no CUDA device is available here; use cpu or auto", "cuda")
    count = torch.cuda.device_count()
    _require(0 <= device.index < count, "device.index", f"must be in 0..{count - 1}", device.index)


def check_data_paths(data: DictConfig) -> None:
    """Fail early on a dataset that is not there; the loader does the deep verification later."""
    if data.file is not None:
        _require(Path(data.file).expanduser().is_file(), "data.file", "file not found", data.file)
        return
    if data.shapes is not None and data.train is None:  # the generated demo
        return
    _require(data.path is not None or data.train is not None, "data.path",
             "must name the dataset root (or set data.file to an existing YOLOv5 data.yaml)", None)
    root = Path(data.path).expanduser() if data.path is not None else Path(".")
    _require(root.is_dir(), "data.path", f"folder not found (resolved to {root.resolve()})", data.path)
    for split in ("train", "val"):
        sources = data[split]
        _require(sources is not None, f"data.{split}", "must name a folder or a .txt list", sources)
        for src in [sources] if isinstance(sources, str) else list(sources):
            p = Path(src).expanduser()
            p = p if p.is_absolute() else root / p
            _require(p.exists(), f"data.{split}", f"not found (resolved to {p.resolve()})", src)
    if data.names is not None and data.nc is not None:
        _require(len(data.names) == data.nc, "data.nc", f"does not match len(data.names)={len(data.names)}", data.nc)


def validate_val(cfg: DictConfig, check_paths: bool = True) -> None:
    """The `val.py` config: sizes, thresholds, and that the weights and data exist."""
    _require(cfg.batch_size >= 1, "batch_size", "must be an integer >= 1", cfg.batch_size)
    _require(cfg.imgsz >= 32, "imgsz", "must be an integer >= 32", cfg.imgsz)
    _require(cfg.workers >= 0, "workers", "must be an integer >= 0", cfg.workers)
    _require(0 < cfg.val.iou_thres <= 1, "val.iou_thres", "must be in (0, 1]", cfg.val.iou_thres)
    _require(0 <= cfg.val.conf_thres < 1, "val.conf_thres", "must be in [0, 1)", cfg.val.conf_thres)
    if check_paths:
        check_device(cfg.device)
        _require(Path(cfg.weights).expanduser().is_file(), "weights", "file not found", cfg.weights)
        check_data_paths(cfg.data)


def validate_predict(cfg: DictConfig, check_paths: bool = True) -> None:
    """The `predict.py` config: sizes, thresholds, strides, and that the weights exist (the source is checked
    when the run opens it: a stream cannot be checked beforehand)."""
    _require(cfg.batch_size >= 1, "batch_size", "must be an integer >= 1", cfg.batch_size)
    _require(cfg.imgsz >= 32, "imgsz", "must be an integer >= 32", cfg.imgsz)
    _require(cfg.vid_stride >= 1, "vid_stride", "must be an integer >= 1", cfg.vid_stride)
    _require(cfg.max_det >= 1, "max_det", "must be an integer >= 1", cfg.max_det)
    _require(0 < cfg.iou_thres <= 1, "iou_thres", "must be in (0, 1]", cfg.iou_thres)
    _require(0 <= cfg.conf_thres < 1, "conf_thres", "must be in [0, 1)", cfg.conf_thres)
    if check_paths:
        check_device(cfg.device)
        _require(Path(cfg.weights).expanduser().is_file(), "weights", "file not found", cfg.weights)


def validate_export(cfg: DictConfig, check_paths: bool = True) -> None:
    """The `export.py` config: sizes, opset, tolerance, and that the weights exist."""
    _require(cfg.imgsz >= 32, "imgsz", "must be an integer >= 32", cfg.imgsz)
    _require(cfg.opset >= 11, "opset", "must be an integer >= 11", cfg.opset)
    _require(cfg.tolerance > 0, "tolerance", "must be > 0", cfg.tolerance)
    if check_paths:
        check_device(cfg.device)
        _require(Path(cfg.weights).expanduser().is_file(), "weights", "file not found", cfg.weights)
