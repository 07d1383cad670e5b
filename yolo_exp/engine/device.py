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
    """Autocast: fp16 (default) or bf16 on CUDA; on CPU only when bf16 is asked for (device.amp_dtype=bf16),
    since fp16 autocast on CPU is slow and bf16 changes gradients by a few percent (docs/performance.md)."""
    bf16 = _value(cfg.device.amp_dtype) == "bf16"
    return bool(cfg.device.amp) and (device.type == "cuda" or bf16), torch.bfloat16 if bf16 else torch.float16
