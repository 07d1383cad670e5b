"""Typed schemas of the val, predict and export commands (the training command's is schema.TrainConfig)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from omegaconf import MISSING

from yolo_exp.config.schema import DataConfig, DeviceConfig, ValConfig


class ValTask(str, Enum):
    train = "train"
    val = "val"
    test = "test"
    speed = "speed"


@dataclass
class ValRunConfig:
    """`python val.py`: score a checkpoint (ours or official YOLOv5) on a dataset split."""

    data: DataConfig = field(default_factory=DataConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    val: ValConfig = field(default_factory=ValConfig)
    weights: str = MISSING
    task: ValTask = ValTask.val
    batch_size: int = 32
    imgsz: int = 640
    workers: int = 2
    single_cls: bool = False
    verbose: bool = True
    plots: bool = True
    name: str = "val"
    cache_dir: Optional[str] = None


class PredictJson(str, Enum):
    records = "records"  # one record per image or frame (file, frame, size, boxes with names)
    coco = "coco"        # COCO's results format: image_id, category_id, bbox, score (segmentation)


@dataclass
class PredictRunConfig:
    """`python predict.py`: detections on images, folders, globs, lists, videos, cameras or streams."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    weights: str = MISSING      # ours, an official YOLOv5 .pt, an export, or a training run folder (its best.pt)
    source: str = MISSING       # image, folder, glob, .txt list of paths, video, camera index, stream URL
    imgsz: int = 640
    conf_thres: float = 0.25
    iou_thres: float = 0.45
    max_det: int = 1000
    classes: Optional[List[int]] = None  # keep only these class ids
    agnostic_nms: bool = False
    half: bool = False          # FP16 inference (CUDA only), as YOLOv5's --half
    batch_size: int = 1
    vid_stride: int = 1         # every n-th video frame
    save_img: bool = True       # annotated images / videos
    save_txt: bool = True       # labels/*.txt, YOLO format
    save_conf: bool = False     # ... with the confidence as a 6th column
    save_crop: bool = False     # crops/<class>/*.jpg
    line_width: Optional[int] = None
    save_json: PredictJson = PredictJson.records  # the format of predictions.json
    coco_json: Optional[str] = None  # save_json=coco: a COCO annotation file (image ids by file name, categories)
    name: str = "predict"


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"


@dataclass
class ExportRunConfig:
    """`python export.py`: a checkpoint to ONNX or TorchScript, checked against PyTorch on real images."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    weights: str = MISSING
    format: ExportFormat = ExportFormat.onnx
    imgsz: int = 640            # the example input (and the only size when dynamic=false)
    dynamic: bool = True        # batch and image size free (val.py's rectangular batches need it)
    opset: int = 17
    half: bool = False          # FP16 (CUDA only)
    source: Optional[str] = None  # images for the check; null: the embedded demo's
    tolerance: float = 0.05     # largest accepted difference to PyTorch (pixels / scores)
    name: str = "export"
