"""`val.py`: score our checkpoints or official YOLOv5 weights on a dataset split, into a run folder."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from yolo_exp.build import accelerator, check_polygons, run_data, task_dataset
from yolo_exp.config.validate import ConfigError, run_weights
from yolo_exp.data.loader import create_dataloader
from yolo_exp.deploy.backends import load_backend, max_stride
from yolo_exp.engine.errors import exit_for, report_failure
from yolo_exp.engine.validate import ValSettings, validate
from yolo_exp.report.summary import write_failure

LOG = logging.getLogger("yolo_exp.val")


def val_task(cfg: DictConfig) -> float:
    """val.py's job; a failure is one line on the console (the traceback goes to val.log). In a sweep (`val.py -m`)
    the failed job is recorded in its folder (summary.json failed, traceback.txt) and the sweep goes on, as train
    jobs do; the summary callback exits non-zero at the end."""
    try:
        return _validate_weights(cfg)
    except Exception as exc:  # noqa: BLE001
        report_failure(exc)
        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            write_failure(Path(hc.runtime.output_dir), exc)
            return float("nan")
        raise exit_for(exc) from None


def _validate_weights(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    LOG.info("Run folder: %s", run_dir)
    cfg.weights = str(run_weights(cfg.weights))  # a run folder: its best.pt, recorded in config_resolved.yaml
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    accel = accelerator(cfg)
    device = accel.device
    data = run_data(cfg)
    spec, nc, names, cache_dir = data.spec, data.nc, data.names, data.cache_dir
    model, _ = load_backend(cfg.weights, device, LOG, nc, names)  # .pt, .onnx or .torchscript
    model_task = getattr(model, "task", "detect")
    if model_task == "segment":  # the demo's segmentation twin (the same classes) when data is the demo
        data = run_data(cfg, model_task)
        spec = data.spec
    if getattr(model, "exported", False) and not model.dynamic:
        raise ConfigError(f"weights={cfg.weights}: exported with dynamic=false (one input size); val.py's "
                          "rectangular batches need an export with dynamic=true")
    task = str(getattr(cfg.task, "value", cfg.task))
    if task == "test" and not spec.test:
        raise ConfigError("task=test: the data has no test split (data.test is unset or missing); use task=val")
    split = {"train": spec.train, "val": spec.val, "test": spec.test, "speed": spec.val}[task]
    stride = max_stride(model)
    loader, dataset = create_dataloader(split, cfg.imgsz, cfg.batch_size, stride, nc, rect=task != "speed",
                                  pad=0.5 if task != "speed" else 0.0, workers=cfg.workers,
                                  single_cls=cfg.single_cls, cache_dir=cache_dir, prefix=f"{task}: ",
                                  dataset_class=task_dataset(spec, model_task))
    check_polygons(dataset, model_task, task)  # a seg model's masks scored against boxes would mislead
    settings = ValSettings.of(cfg, accel.amp, plots=cfg.plots and task != "speed",
                              verbose=cfg.verbose)
    if task == "speed":  # YOLOv5's speed task: deployment thresholds
        settings = replace(settings, conf_thres=0.25, iou_thres=0.45)
    res = validate(model, loader, names, device, settings, save_dir=run_dir, log=LOG)
    LOG.info("Results saved to %s", run_dir)
    return float(res.map)
