"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The groups and the training command's config; the other commands' configs are in
:mod:`yolo_exp.config.commands`, and :mod:`yolo_exp.config.store` registers them all. Each option file in
``conf/<group>/`` extends its group's schema (``defaults: [base_<group>, _self_]``), so a
typo'd key or a value of the wrong type fails while Hydra composes, before anything is built. Range checks that
types cannot express live in :mod:`yolo_exp.config.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


class DeviceType(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class AmpDtype(str, Enum):
    fp16 = "fp16"
    bf16 = "bf16"


class Task(str, Enum):
    detect = "detect"
    segment = "segment"  # YOLOv5-seg: boxes + instance masks (a Segment head)


class CacheMode(str, Enum):
    none = "none"
    ram = "ram"
    disk = "disk"


@dataclass
class ModelConfig:
    """Architecture as data: YOLOv5's model yaml, with module names resolved through a registry (no eval).
    ``_target_`` builds it: YOLOv5's builder, or a user's factory taking (nc, names, **these keys)."""

    _target_: str = "yolo_exp.models.yolo.yolo_model"
    name: str = MISSING
    task: Task = Task.detect  # must agree with the last layer (Detect or Segment)
    depth_multiple: float = MISSING
    width_multiple: float = MISSING
    anchors: Any = 3  # per-level pixel lists, or an int: anchors per level, computed by AutoAnchor
    activation: str = "SiLU"
    ch: int = 3
    backbone: List[Any] = MISSING
    head: List[Any] = MISSING


@dataclass
class ShapesConfig:
    """Parameters of the embedded, generated `shapes` dataset."""

    n_train: int = 512
    n_val: int = 128
    img_size: int = 256
    seed: int = 0
    segments: bool = False  # the segmentation twin: visible outlines as polygon labels


@dataclass
class DataConfig:
    """What a YOLOv5 data.yaml holds, plus `file` (read an existing data.yaml) and `shapes` (generate one).
    ``_target_`` resolves it into a DataSpec; ``dataset`` is the class the loaders build (YoloDataset or a
    subclass: ``data.dataset._target_=my_module.MyDataset``)."""

    _target_: str = "yolo_exp.data.spec.data_spec"
    dataset: Any = field(default_factory=lambda: {"_target_": "yolo_exp.data.dataset.YoloDataset",
                                                  "_partial_": True})
    path: Optional[str] = None
    train: Any = None
    val: Any = None
    test: Any = None
    names: Any = None
    nc: Optional[int] = None
    file: Optional[str] = None
    shapes: Optional[ShapesConfig] = None
    gpu_augment: bool = False  # mosaic, warp, HSV and flips of training batches on the device (data/gpu_augment.py)


@dataclass
class HypConfig:
    """YOLOv5's hyperparameters (data/hyps/*.yaml), same names and meanings."""

    lr0: float = 0.01
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 0.0005
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    box: float = 0.05
    cls: float = 0.5
    cls_pw: float = 1.0
    obj: float = 1.0
    obj_pw: float = 1.0
    iou_t: float = 0.20
    anchor_t: float = 4.0
    anchors: Optional[float] = None
    fl_gamma: float = 0.0
    label_smoothing: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    perspective: float = 0.0
    flipud: float = 0.0
    fliplr: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.0
    copy_paste: float = 0.0


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    _partial_: bool = True
    lr: float = MISSING
    momentum: float = MISSING
    nesterov: bool = True
    fused: Optional[bool] = None  # torch's fused kernel: a step without host syncs (null: torch's default)


@dataclass
class AdamConfig:
    _target_: str = "torch.optim.Adam"
    _partial_: bool = True
    lr: float = MISSING
    betas: List[float] = MISSING
    fused: Optional[bool] = None


@dataclass
class AdamWConfig(AdamConfig):
    _target_: str = "torch.optim.AdamW"


@dataclass
class DeviceConfig:
    """Built into an Accelerator (``_target_``; a user's subclass may replace it)."""

    _target_: str = "yolo_exp.engine.device.Accelerator"
    type: DeviceType = DeviceType.auto
    index: int = 0
    amp: bool = True  # autocast + GradScaler; only ever on for CUDA
    amp_dtype: AmpDtype = AmpDtype.fp16
    channels_last: bool = True  # NHWC convolutions: 1.2x on CPU, 2.3x on an H100 with AMP (docs/performance.md)
    cudnn_benchmark: bool = False  # cuDNN's autotuner; only with deterministic=false (it picks kernels by timing)
    compile: bool = False
    compile_mode: str = "default"  # torch.compile's: default | reduce-overhead (CUDA graphs) | max-autotune
    # DDP from one command: gpus=N (the first N) or a list of indices (device=0,1 says [0, 1]); processes=N: gloo
    # processes on the CPU. The command starts the processes itself (engine/launch.py), as torchrun would.
    gpus: Any = None
    processes: int = 1


@dataclass
class FitnessWeights:
    """Weights of the metrics in the fitness that picks best.pt and drives early stopping (YOLOv5 hard-codes them)."""

    precision: float = 0.0
    recall: float = 0.0
    map50: float = 0.1
    map: float = 0.9
    # segmentation: the mask metrics' weights; unset, each is its box metric's (YOLOv5-seg sums both alike)
    mask_precision: Optional[float] = None
    mask_recall: Optional[float] = None
    mask_map50: Optional[float] = None
    mask_map: Optional[float] = None


@dataclass
class ValConfig:
    conf_thres: float = 0.001
    iou_thres: float = 0.6
    final_iou_thres: float = 0.6  # YOLOv5 uses 0.65 for its COCO final validation
    max_det: int = 300
    save_json: bool = False
    save_txt: bool = False


@dataclass
class SweepConfig:
    """How a rerun of a sweep treats its jobs: completed ones are skipped, unfinished ones resume; failed ones run
    again (from their last.pt) unless retry_failed=false, since failures are often passing (preemption, memory,
    a full disk) and rerunning a sweep command asks for a complete sweep."""

    retry_failed: bool = True


@dataclass
class TrialConfig:
    """Set by `hydra/sweeper=optuna` for each job: where its trial lives, so the job reports per-epoch fitness to
    it and stops when the study's pruner says so. Not for users to set."""

    storage: Optional[str] = None
    study: Optional[str] = None
    number: Optional[int] = None


@dataclass
class TensorBoardLoggerConfig:
    _target_: str = "yolo_exp.report.tensorboard.TensorBoardLogger"


@dataclass
class MLflowLoggerConfig:
    """MLflow tracking (opt-in: ``logger=[tensorboard,mlflow]``); needs the ``mlflow`` extra."""

    _target_: str = "yolo_exp.report.mlflow_logger.MLflowLogger"
    tracking_uri: Optional[str] = None   # null: $MLFLOW_TRACKING_URI, else sqlite in ./mlruns (beside outputs/)
    experiment: Optional[str] = None     # null: the sweep folder for a sweep's jobs, else `name`
    log_weights: bool = False            # also upload weights/best.pt as an artifact
    timeout_s: float = 10.0              # per request to a tracking server (no retries: training never waits)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    hyp: HypConfig = field(default_factory=HypConfig)
    optimizer: Any = MISSING
    device: DeviceConfig = field(default_factory=DeviceConfig)
    val: ValConfig = field(default_factory=ValConfig)
    fitness: FitnessWeights = field(default_factory=FitnessWeights)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)
    callbacks: Dict[str, Any] = field(default_factory=dict)  # name -> {_target_: ...}: the user's plug-ins
    logger: Dict[str, Any] = field(default_factory=dict)     # chosen with logger=[tensorboard,mlflow]

    epochs: int = 100
    batch_size: Any = 16  # or auto / -1: AutoBatch on CUDA (engine/autobatch.py)
    autobatch_fraction: float = 0.6  # AutoBatch's share of the free GPU memory
    nbs: int = 64
    imgsz: int = 640
    workers: int = 2
    seed: int = 0
    name: str = "train"
    resume: Optional[str] = None
    weights: Optional[str] = None
    cache: CacheMode = CacheMode.none
    cache_dir: Optional[str] = None
    rect: bool = False
    cos_lr: bool = False
    multi_scale: bool = False
    single_cls: bool = False
    freeze: Any = 0
    patience: int = 100
    save_period: int = -1
    noval: bool = False
    nosave: bool = False
    noplots: bool = False
    autoanchor: bool = True
    close_mosaic: int = 0
    image_weights: bool = False
    overlap_mask: bool = True  # segmentation: one index mask per image (YOLOv5's default), else one per instance
    mask_ratio: int = 4  # segmentation: masks at 1/mask_ratio of the image
    keep_optimizer: bool = False
    sync_bn: bool = False
    deterministic: bool = True
