"""DetectionModel: the layer stack built from architecture data, with strides, anchors and biases set up."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yolo_exp.models.arch import load_arch
from yolo_exp.models.blocks import Conv
from yolo_exp.models.builder import MODULES, ModuleSpec, build_layers
from yolo_exp.models.detect import Detect, Segment

LOGGER = logging.getLogger(__name__)


class DetectionModel(nn.Module):
    """A YOLOv5-style detector. Parameter names equal YOLOv5's (``model.<i>....``) so its weights load as-is."""

    def __init__(self, arch: Mapping[str, Any], nc: int, ch: int = 3, names: list[str] | None = None,
                 registry: Mapping[str, ModuleSpec] = MODULES) -> None:
        super().__init__()
        self.arch = dict(arch)
        self.model, self.save = build_layers(self.arch, nc, ch, registry)
        self.nc = nc
        self.names = self._check_names(names, nc)
        declared = self.arch.get("task") or "detect"
        if declared != self.task:
            raise ValueError(f"architecture {self.arch.get('name')!r}: task {declared!r} but its last layer is "
                             f"{type(self.detect).__name__} (a {self.task} head)")
        detect = self.detect
        anchors_px = detect.anchors.clone()
        detect.stride.copy_(self._measure_strides(ch))
        detect.set_anchors_px(anchors_px)
        detect.initialize_biases()

    @staticmethod
    def _check_names(names: list[str] | None, nc: int) -> list[str]:
        if names is None:
            return [f"class{i}" for i in range(nc)]
        if len(names) != nc:
            raise ValueError(f"{len(names)} class names for nc={nc}")
        return list(names)

    @property
    def detect(self) -> Detect:
        return self.model[-1]

    @property
    def task(self) -> str:
        """What the model predicts: ``detect`` (boxes) or ``segment`` (boxes and instance masks)."""
        return "segment" if isinstance(self.detect, Segment) else "detect"

    @property
    def stride(self) -> torch.Tensor:
        return self.detect.stride

    @torch.no_grad()
    def _measure_strides(self, ch: int, size: int = 256) -> torch.Tensor:
        """Input size / output size per level, from an eval-mode pass on zeros (leaves BN statistics alone)."""
        was_training = self.training
        self.eval()
        try:
            raw = self.forward(torch.zeros(1, ch, size, size))[-1]  # Detect: (decoded, raw); Segment: (.., raw)
        finally:
            self.train(was_training)
        return torch.tensor([size / x.shape[2] for x in raw])

    def forward(self, x: torch.Tensor):  # noqa: ANN201 - list in training, (decoded, raw) in eval
        outputs: list[torch.Tensor | None] = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x

    def set_nc(self, nc: int, names: list[str] | None = None) -> DetectionModel:
        """New class count: only the Detect output convs are rebuilt, everything else keeps its weights."""
        self.nc = nc
        self.names = self._check_names(names, nc)
        self.detect.set_nc(nc)
        self.detect.np = sum(p.numel() for p in self.detect.parameters())
        return self

    def fuse(self) -> DetectionModel:
        """Fold every Conv's BatchNorm into its conv for faster inference."""
        for m in self.modules():
            if isinstance(m, Conv):
                m.fuse()
        return self

    def info(self, imgsz: int = 640, verbose: bool = False, log: logging.Logger = LOGGER) -> dict[str, Any]:
        from yolo_exp.models.summary import model_info

        return model_info(self, imgsz=imgsz, verbose=verbose, log=log)


def build_model(arch: str | Path | Mapping[str, Any], nc: int, ch: int | None = None,
                names: list[str] | None = None) -> DetectionModel:
    """Build from a name in conf/model, a yaml path, or a mapping (e.g. ``OmegaConf.to_container(cfg.model)``).

    ``ch`` defaults to the architecture's ``ch`` (3).
    """
    data = load_arch(arch)
    return DetectionModel(data, nc, ch=int(data["ch"] if ch is None else ch), names=names)


def yolo_model(nc: int, names: list[str] | None = None, **arch: Any) -> DetectionModel:
    """The ``model`` group's builder (its ``_target_``): the group's keys are the architecture, as in YOLOv5's yamls.

    A user's own factory takes the same arguments and returns a DetectionModel (``arch`` is what checkpoints keep,
    so val.py, predict.py and export.py rebuild the network without the user's code).
    """
    return build_model(arch, nc=nc, names=names)
