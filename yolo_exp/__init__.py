"""yolo-exp: a Hydra-configured experiment system for YOLOv5-style detectors.

The public API is imported lazily so that ``import yolo_exp`` stays light (no torch import until needed).
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": "yolo_exp.models.yolo",
    "DetectionModel": "yolo_exp.models.yolo",
    "check_anchors": "yolo_exp.models.autoanchor",
    "load_weights": "yolo_exp.models.weights",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yolo_exp' has no attribute {name!r}")
