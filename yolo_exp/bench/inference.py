"""`bench val` and `bench predict`: what validation and predict.py cost per image."""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any


def bench_val(cfg) -> dict[str, Any]:
    """Validation cost per image: pre-process, inference, NMS, metrics."""
    from yolo_exp.build import accelerator, checkpoint_model, run_data, task_dataset, train_model
    from yolo_exp.config.validate import model_task
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.engine.validate import ValSettings, validate

    accel = accelerator(cfg)
    device = accel.device
    task = model_task(cfg)
    data = run_data(cfg, task)
    spec = data.spec
    log = logging.getLogger("yolo_exp.bench")
    # the checkpoint's own architecture, as val.py builds it; else the config's model, untrained
    model = checkpoint_model(cfg.weights, log, data.nc, data.names)[0] if cfg.weights else \
        train_model(cfg, data, False, log)
    model = model.to(device).eval()
    loader, _ = create_dataloader(spec.val, cfg.imgsz, cfg.batch_size, int(model.stride.max()), data.nc,
                                  rect=True, pad=0.5, workers=cfg.workers, single_cls=cfg.single_cls,
                                  cache_dir=data.cache_dir, dataset_class=task_dataset(spec, model.task))
    t0 = time.perf_counter()
    res = validate(model, loader, data.names, device, ValSettings.of(cfg, accel.amp))
    wall = time.perf_counter() - t0
    n = len(loader.dataset)
    masks = {} if res.mask is None else {"mask_map50": res.mask.map50, "mask_map": res.mask.map}
    return {"bench": "val", "ms_per_image_total": 1000 * wall / n, **{f"ms_{k}": v for k, v in res.speed.items()},
            "map50": res.map50, "map": res.map, **masks}


def bench_predict(cfg, source: str | None, formats: list[str]) -> list[dict[str, Any]]:
    """predict.py's images/s end to end (decode, pre-process, inference, NMS, drawing, label files) per weights
    format: the .pt as given, .onnx/.torchscript exported from it first. ``source``: images (default: the data's
    val images)."""
    from yolo_exp.build import accelerator, run_data
    from yolo_exp.commands.predict import Detector
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.deploy.export import export
    from yolo_exp.predict.outputs import Outputs
    from yolo_exp.predict.sources import frames

    if not cfg.weights:
        raise SystemExit("bench predict: give weights=PATH (ours or an official YOLOv5 .pt)")
    source = source or str(run_data(cfg).spec.val[0])
    device_args = [f"device={getattr(cfg.device.type, 'value', cfg.device.type)}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            weights = str(cfg.weights)
            if fmt != "pt":
                ecfg = compose_checked([f"weights={weights}", f"format={fmt}", f"imgsz={cfg.imgsz}", *device_args],
                                       config_name="export")
                weights = str(export(ecfg, Path(tmp)))
            pcfg = compose_checked([f"weights={weights}", f"source={source}", f"imgsz={cfg.imgsz}", *device_args],
                                   config_name="predict")
            detector = Detector(pcfg, accelerator(pcfg))
            outputs = Outputs(Path(tmp) / fmt, detector.names)
            outputs.run_dir.mkdir()
            n, t0 = 0, time.perf_counter()
            for frame in frames(source):
                if frame.image is not None:
                    outputs.add(frame, *detector([frame.image])[0])
                    n += 1
            wall = time.perf_counter() - t0
            rows.append({"bench": "predict", "format": fmt, "images": n, "images_per_s": n / wall,
                         "ms_per_image": 1000 * wall / max(n, 1)})
    return rows
