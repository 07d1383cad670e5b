"""`val.py`: score our checkpoints or official YOLOv5 weights on a dataset split, into a run folder."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import ConfigError
from yolo_exp.data.loader import create_dataloader
from yolo_exp.data.spec import resolve_data
from yolo_exp.engine.device import amp_settings, select_device
from yolo_exp.engine.errors import exit_for, report_failure
from yolo_exp.engine.validate import validate
from yolo_exp.models.weights import load_weights, open_checkpoint
from yolo_exp.models.yolo import DetectionModel, build_model
from yolo_exp.models.yolov5_pickle import YoloV5Checkpoint

LOG = logging.getLogger("yolo_exp.val")


def describe_weights(ckpt: object, path: str | Path) -> tuple[dict[str, Any], int, list[str] | None]:
    """(architecture, nc, class names) of an opened checkpoint (``open_checkpoint``), ours or YOLOv5's."""
    if isinstance(ckpt, YoloV5Checkpoint):
        v5 = ckpt
        if v5.yaml is None:
            raise ValueError(f"{path}: a YOLOv5 checkpoint without its model yaml; cannot rebuild the network")
        return dict(v5.yaml), int(v5.nc), v5.names
    if not isinstance(ckpt, dict) or "arch" not in ckpt:
        raise ValueError(f"{path}: not a yolo-exp checkpoint (no 'arch'); use an official YOLOv5 .pt or ours")
    return ckpt["arch"], int(ckpt["nc"]), list(ckpt.get("names") or []) or None


def load_for_eval(path: str | Path, data_nc: int, names: list[str]) -> DetectionModel:
    ckpt = open_checkpoint(path)  # read once, without running pickled code
    arch, nc, _ = describe_weights(ckpt, path)
    if nc != data_nc:
        raise ConfigError(f"weights={path} has nc={nc} but the data has nc={data_nc}: validate on the data the "
                          "weights were trained for")
    model = build_model(arch, nc=nc, names=names)
    load_weights(model, path, log=LOG, ckpt=ckpt)
    return model.eval()


def val_task(cfg: DictConfig) -> float:
    """val.py's job; a failure is one line on the console (the traceback goes to val.log)."""
    try:
        return _validate_weights(cfg)
    except Exception as exc:  # noqa: BLE001
        report_failure(exc)
        raise exit_for(exc) from None


def _validate_weights(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    LOG.info("Run folder: %s", run_dir)
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    device = select_device(cfg)
    cache_dir = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else None
    spec = resolve_data(OmegaConf.to_container(cfg.data, resolve=True), cache_dir=cache_dir)
    nc = 1 if cfg.single_cls else spec.nc
    names = ["item"] if cfg.single_cls and spec.nc > 1 else list(spec.names)
    model = load_for_eval(cfg.weights, nc, names).to(device)
    task = str(getattr(cfg.task, "value", cfg.task))
    if task == "test" and not spec.test:
        raise ConfigError("task=test: the data has no test split (data.test is unset or missing); use task=val")
    split = {"train": spec.train, "val": spec.val, "test": spec.test, "speed": spec.val}[task]
    stride = int(model.stride.max())
    loader, _ = create_dataloader(split, cfg.imgsz, cfg.batch_size, stride, nc, rect=task != "speed",
                                  pad=0.5 if task != "speed" else 0.0, workers=cfg.workers,
                                  single_cls=cfg.single_cls, cache_dir=cache_dir, prefix=f"{task}: ")
    conf, iou = (0.25, 0.45) if task == "speed" else (cfg.val.conf_thres, cfg.val.iou_thres)
    half, _ = amp_settings(cfg, device)
    res = validate(model, loader, names, device, conf_thres=conf, iou_thres=iou, max_det=cfg.val.max_det,
                   half=half, single_cls=cfg.single_cls, save_dir=run_dir, plots=cfg.plots and task != "speed",
                   save_json=cfg.val.save_json, save_txt=cfg.val.save_txt, verbose=cfg.verbose,
                   channels_last=cfg.device.channels_last, log=LOG)
    LOG.info("Results saved to %s", run_dir)
    return float(res.map)
