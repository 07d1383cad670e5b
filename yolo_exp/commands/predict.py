"""predict.py's job: detections for every frame of a source, with validation's own pre-processing and box mapping.

The model comes from the weights file alone (ours or official YOLOv5 .pt, or an export: .onnx, .torchscript). Frames of
one shape are batched (``batch_size``); each is letterboxed as validation letterboxes it (prepare_image) and its
boxes are mapped back to its own pixels with the same record.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from yolo_exp.build import accelerator
from yolo_exp.config.validate import run_weights
from yolo_exp.data.dataset import prepare_image
from yolo_exp.deploy.backends import load_backend, max_stride
from yolo_exp.engine.device import Accelerator
from yolo_exp.engine.errors import exit_for, report_failure
from yolo_exp.engine.validate import inference_copy
from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.ops.boxes import scale_boxes
from yolo_exp.ops.masks import original_masks
from yolo_exp.ops.nms import non_max_suppression
from yolo_exp.predict.coco_results import read_ids
from yolo_exp.predict.outputs import Outputs
from yolo_exp.predict.sources import count_frames, expand, frames, is_stream

LOG = logging.getLogger("yolo_exp.predict")


def predict_task(cfg: DictConfig) -> int:
    """Returns the number of frames processed; a failure (also: not one frame could be read) is one line
    (traceback in predict.log), exit status 1; Ctrl-C exits 130."""
    try:
        return _predict(cfg, Path(HydraConfig.get().runtime.output_dir))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001
        report_failure(exc)
        raise exit_for(exc) from None


class Prediction(NamedTuple):
    boxes: np.ndarray  # (n, 6): x1, y1, x2, y2, conf, class in the frame's own pixels
    masks: list | None  # a segmentation model's: per box (top, left, bool patch) at the frame's size


class Detector:
    """A model with its NMS settings: BGR frames in, detections (and a segmentation model's masks) in each frame's
    own pixels out."""

    def __init__(self, cfg: DictConfig, accel: Accelerator) -> None:
        device = accel.device
        model, self.names = load_backend(cfg.weights, device, LOG)  # .pt, .onnx or .torchscript
        self.device = device
        self.stride = max_stride(model)
        self.imgsz = max(math.ceil(cfg.imgsz / self.stride) * self.stride, 2 * self.stride)
        exported = getattr(model, "exported", False)
        self.square = exported and not model.dynamic  # a one-size export: every frame letterboxed to its size
        if self.square:
            self.imgsz = model.imgsz
        self.half = bool(cfg.half) and device.type == "cuda" and not exported
        self.net = model if exported else inference_copy(model, self.half, accel.channels_last)
        self.segment = getattr(model, "task", "detect") == "segment"
        self.batch = 1 if self.square else cfg.batch_size  # a one-size export also has a batch of one
        for note in accel.training_only() + unused_options(cfg, device, model, self.imgsz, len(self.names)):
            LOG.warning(note)
        self.nms = dict(conf_thres=cfg.conf_thres, iou_thres=cfg.iou_thres, max_det=cfg.max_det,
                        classes=list(cfg.classes) if cfg.classes is not None else None, agnostic=cfg.agnostic_nms)

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray]) -> list[Prediction]:
        prepared = [prepare_image(im, self.imgsz, self.stride, square=self.square) for im in images]
        out: list[Prediction] = []
        i = 0
        while i < len(prepared):  # consecutive frames of one shape go through the model together
            j = i + 1
            while j < len(prepared) and j - i < self.batch and prepared[j][0].shape == prepared[i][0].shape:
                j += 1
            x = torch.stack([p[0] for p in prepared[i:j]]).to(self.device)
            x = (x.half() if self.half else x.float()) / 255
            result = self.net(x)  # (predictions, raw) or a segmentation model's (predictions, prototypes, raw)
            preds, protos = result[0], result[1] if self.segment else None
            nm = protos.shape[1] if self.segment else 0
            for k, (det, (_, shapes)) in enumerate(zip(non_max_suppression(preds, nm=nm, **self.nms),
                                                       prepared[i:j])):
                det = det.float()
                scale_boxes(x.shape[2:], det[:, :4], shapes[0], shapes[1])
                masks = None
                if self.segment:
                    masks = [(t, l, m.cpu().numpy()) for t, l, m in
                             original_masks(protos[k], det[:, 6:], det[:, :4], x.shape[2:], shapes[0], shapes[1])]
                out.append(Prediction(det[:, :6].cpu().numpy(), masks))
            i = j
        return out


def unused_options(cfg: DictConfig, device: torch.device, model: Any, imgsz: int, nc: int) -> list[str]:
    """One line for each option that cannot do what it says with this device, model or format (rather than being
    ignored in silence); ``imgsz`` is the size frames are letterboxed to."""
    notes = []
    exported = getattr(model, "exported", False)
    if cfg.half and device.type != "cuda":
        notes.append(f"half=true: FP16 runs on CUDA only; predicting in FP32 on {device.type}")
    elif cfg.half and exported:
        notes.append(f"half=true: an exported model runs at the precision it was exported with "
                     f"(fp16={str(model.fp16).lower()}); export with half=true for FP16")
    if cfg.classes is not None:
        absent = [c for c in cfg.classes if not 0 <= c < nc]
        if absent:
            none_left = "; nothing will be detected" if len(absent) == len(cfg.classes) else ""
            notes.append(f"classes={list(cfg.classes)}: {absent} not among the model's {nc} classes "
                         f"(0-{nc - 1}){none_left}")
    if exported and not model.dynamic:
        if cfg.imgsz != imgsz:
            notes.append(f"imgsz={cfg.imgsz}: this export takes {imgsz} only (dynamic=false); frames are "
                         f"letterboxed to {imgsz}")
        if cfg.batch_size > 1:
            notes.append(f"batch_size={cfg.batch_size}: this export takes one frame at a time (dynamic=false)")
    elif cfg.imgsz != imgsz:
        notes.append(f"imgsz={cfg.imgsz}: rounded to {imgsz}, a multiple of the model's stride {max_stride(model)}")
    if cfg.save_conf and not cfg.save_txt:
        notes.append("save_conf=true: no labels are written (save_txt=false)")
    if cfg.coco_json is not None and cfg.save_json != "coco":
        notes.append(f"coco_json={cfg.coco_json}: used only with save_json=coco")
    if cfg.line_width is not None and not cfg.save_img:
        notes.append(f"line_width={cfg.line_width}: nothing is drawn (save_img=false)")
    return notes


def _predict(cfg: DictConfig, run_dir: Path) -> int:
    LOG.info("Run folder: %s", run_dir)
    cfg.weights = str(run_weights(cfg.weights))  # a run folder: its best.pt, recorded in config_resolved.yaml
    atomic_write_text(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    source = str(cfg.source)
    total = 0 if is_stream(source) else count_frames(expand(source), cfg.vid_stride)  # a bad source fails here
    detector = Detector(cfg, accelerator(cfg))
    outputs = Outputs(run_dir, detector.names, save_img=cfg.save_img, save_txt=cfg.save_txt,
                      save_conf=cfg.save_conf, save_crop=cfg.save_crop, line_width=cfg.line_width,
                      vid_stride=cfg.vid_stride,
                      coco=read_ids(cfg.coco_json, detector.names) if cfg.save_json == "coco" else None)
    t0 = time.perf_counter()
    pbar = tqdm(total=total or None, unit="frame", bar_format="{l_bar}{bar:10}{r_bar}")
    batch: list[Any] = []

    def flush() -> None:
        for frame, pred in zip(batch, detector([f.image for f in batch])):
            outputs.add(frame, *pred)
        pbar.update(len(batch))
        batch.clear()

    try:
        for frame in frames(source, cfg.vid_stride):
            if frame.image is None:
                LOG.warning("skipped %s: %s", frame.path, frame.error)
                outputs.skipped.append(frame.error or frame.path)
                pbar.update(1)
                continue
            batch.append(frame)
            if len(batch) >= cfg.batch_size:
                flush()
        flush()
    except KeyboardInterrupt:  # frames read but not yet through the model are not counted: none is saved
        n = len(outputs.records)
        LOG.warning("interrupted after %d frame%s; what was seen is saved", n, "s" * (n != 1))
        raise
    finally:
        pbar.close()
        record = outputs.close()
        done = len(outputs.records)
        LOG.info("%d frame%s (%.1f frames/s), %d detections; %s", done, "s" * (done != 1),
                 done / max(time.perf_counter() - t0, 1e-9), sum(len(r["boxes"]) for r in outputs.records), record)
    if not done:
        raise ValueError(f"source={source}: nothing was processed ({(outputs.skipped or ['no frames'])[0]})")
    if outputs.skipped:
        n = len(outputs.skipped)
        LOG.warning("%d unreadable input%s skipped (named above); %d frames processed", n, "s" * (n != 1), done)
    return done
