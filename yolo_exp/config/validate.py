"""Checks that types cannot express: ranges, allowed values, paths. Each failure is one line naming the key."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from yolo_exp.parallel import dist

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


def is_auto_batch(value: Any) -> bool:
    """batch_size=auto or -1 (YOLOv5's --batch-size -1): AutoBatch picks the size (engine/autobatch.py)."""
    return isinstance(value, str) and value.strip().lower() == "auto" or (
        isinstance(value, int) and not isinstance(value, bool) and value == -1)


def _require(cond: bool, key: str, rule: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}={value!r}: {rule}")


def validate(cfg: DictConfig, check_paths: bool = True) -> None:
    """Raise ConfigError for the first bad value; cheap (no torch import), so it runs before anything is built."""
    _require(cfg.epochs >= 1, "epochs", "must be an integer >= 1", cfg.epochs)
    batch = cfg.batch_size
    _require(is_auto_batch(batch) or isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1,
             "batch_size", "must be an integer >= 1, or auto (or -1) for AutoBatch on a CUDA GPU", batch)
    on_cpu = str(getattr(cfg.device.get("type"), "value", cfg.device.get("type"))) == "cpu"
    _require(not (is_auto_batch(batch) and on_cpu), "batch_size",
             "AutoBatch measures CUDA memory and device=cpu has none: give a number (e.g. batch_size=16)", batch)
    _require(0 < cfg.autobatch_fraction <= 1, "autobatch_fraction", "must be in (0, 1]", cfg.autobatch_fraction)
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
    _require(not (cfg.data.get("gpu_augment") and hyp.copy_paste), "data.gpu_augment",
             f"copy-paste (hyp.copy_paste={hyp.copy_paste}) needs the pixels in the worker: set hyp.copy_paste=0 "
             "or data.gpu_augment=false", True)
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
    _require(isinstance(device.processes, int) and device.processes >= 1, "device.processes",
             "must be an integer >= 1 (training processes; on CUDA use device.gpus)", device.processes)
    gpus = device.gpus
    ok = gpus is None or (isinstance(gpus, int) and not isinstance(gpus, bool) and gpus >= 1) or (
        not isinstance(gpus, (str, float, bool, int)) and len(gpus) >= 1 and len(set(gpus)) == len(gpus)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in gpus))
    _require(ok, "device.gpus", "must be N >= 1 (the first N GPUs) or a list of distinct GPU indices "
             "(device=0,1)", gpus)
    if str(getattr(device.type, "value", device.type)) != "cuda":
        _require(gpus is None, "device.gpus", "needs device=cuda (on the CPU: device.processes=N)", gpus)
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
        check_weights(cfg.weights)
        check_data_paths(cfg.data)


def run_weights(value: str) -> Path:
    """``weights=`` as given, or the best.pt of a training run folder (``weights/best.pt``, or one beside it)."""
    path = Path(value).expanduser()
    if path.is_dir():
        return next((p for p in (path / "weights" / "best.pt", path / "best.pt") if p.is_file()), path)
    return path


def check_weights(value: str) -> None:
    weights = run_weights(value)
    _require(weights.is_file(), "weights", "a folder without weights/best.pt" if weights.is_dir() else
             "file not found", value)


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
        check_weights(cfg.weights)
        if cfg.coco_json is not None:
            _require(Path(cfg.coco_json).expanduser().is_file(), "coco_json", "file not found", cfg.coco_json)


def validate_export(cfg: DictConfig, check_paths: bool = True) -> None:
    """The `export.py` config: sizes, opset, tolerance, and that the weights exist."""
    _require(cfg.imgsz >= 32, "imgsz", "must be an integer >= 32", cfg.imgsz)
    _require(cfg.opset >= 11, "opset", "must be an integer >= 11", cfg.opset)
    _require(cfg.tolerance > 0, "tolerance", "must be > 0", cfg.tolerance)
    if check_paths:
        check_device(cfg.device)
        check_weights(cfg.weights)


def check_batch_split(cfg: DictConfig, config_name: str) -> None:
    """A training batch over several processes (torchrun's, or those device.gpus / device.processes start) splits
    evenly, before anything is written."""
    n = dist.world_size() if dist.launched() else dist.process_count(cfg.device) if config_name == "config" else 1
    if n > 1 and (not isinstance(cfg.batch_size, int) or cfg.batch_size % n):
        raise ConfigError(f"batch_size={cfg.batch_size}: must be a number divisible by the {n} training processes "
                          "(the total batch is split evenly over them; AutoBatch is for one GPU)")
