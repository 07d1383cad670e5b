"""Device choice and AMP settings from the `device` config group."""
from __future__ import annotations

import torch
from omegaconf import DictConfig


def _value(x) -> str:  # enums from the typed config, or plain strings from a dict
    return str(getattr(x, "value", x))


def select_device(cfg: DictConfig) -> torch.device:
    kind = _value(cfg.device.type)
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda: no CUDA device is available (use device=cpu or device=auto)")
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(f"cuda:{cfg.device.index}" if kind == "cuda" else "cpu")


def amp_settings(cfg: DictConfig, device: torch.device) -> tuple[bool, torch.dtype]:
    """Autocast on CUDA only (on CPU it is slower and YOLOv5 never uses it); fp16 or bf16."""
    enabled = bool(cfg.device.amp) and device.type == "cuda"
    return enabled, torch.bfloat16 if _value(cfg.device.amp_dtype) == "bf16" else torch.float16
