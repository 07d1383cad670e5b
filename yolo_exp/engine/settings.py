"""What a training run reads from its config (TrainSettings) and what it returns (TrainResult)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from yolo_exp.engine.validate import ValSettings


@dataclass
class TrainResult:
    best_fitness: float
    best_epoch: int
    final: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    epochs_done: int = 0
    status: str = "completed"
    stopped: str | None = None  # why a callback stopped the run early


@dataclass
class TrainSettings:
    """What the loop reads from the config, as one record (``of``); the built parts come from yolo_exp.build.
    Defaults are the config's, so a test can write only what it changes."""

    epochs: int = 100
    batch_size: int = 16     # the total over all ranks (optimizer and warmup use it, as YOLOv5)
    nbs: int = 64
    seed: int = 0
    rect: bool = False
    multi_scale: bool = False
    close_mosaic: int = 0
    image_weights: bool = False
    patience: int = 100
    save_period: int = -1
    noval: bool = False
    nosave: bool = False
    noplots: bool = False
    keep_optimizer: bool = False
    fitness: dict[str, float] = field(default_factory=lambda: {"map50": 0.1, "map": 0.9})
    val: ValSettings = field(default_factory=ValSettings)        # every epoch's validation
    final_val: ValSettings = field(default_factory=ValSettings)  # best.pt's at the end (final_iou_thres, plots)
    config: dict[str, Any] = field(default_factory=dict)          # the resolved config, kept in checkpoints

    @classmethod
    def of(cls, cfg: DictConfig, amp: bool, nc: int) -> TrainSettings:
        val = ValSettings.of(cfg, amp)
        plain = {f.name: cfg[f.name] for f in fields(cls) if f.name not in ("fitness", "val", "final_val", "config")}
        return cls(**plain, fitness=OmegaConf.to_container(cfg.fitness), val=val,
                   final_val=replace(val, iou_thres=cfg.val.final_iou_thres, plots=not cfg.noplots, verbose=nc < 50),
                   config=OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
