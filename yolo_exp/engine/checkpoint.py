"""Checkpoints that survive a kill at any moment and load with ``torch.load(weights_only=True)``.

Every write goes through ``yolo_exp.files.atomic``: a crash leaves either the previous checkpoint or the new one, never
half of one. Contents are plain
tensors, numbers, strings, lists and dicts (no pickled modules, unlike YOLOv5), so loading runs no code.
"""
from __future__ import annotations

import logging
import pickle
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from yolo_exp.files.atomic import atomic_write
from yolo_exp.models.weights import CheckpointError, torch_load


def atomic_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path) -> dict:
    """A yolo-exp checkpoint (a dict with the model's tensors), or CheckpointError."""
    try:
        ckpt = torch_load(path)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: not a yolo-exp checkpoint (it holds pickled code, as YOLOv5's do; "
                              "pass it as weights= instead)") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise CheckpointError(f"{path}: holds a {type(ckpt).__name__}, not a yolo-exp checkpoint")
    return ckpt


def rng_state() -> dict:
    """Python, numpy, torch and CUDA generator states in weights_only-loadable types."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *[int(v) if i < 2 else float(v)
                                                                      for i, v in enumerate(np_state[2:])]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def strip_checkpoint(path: str | Path, keep_optimizer: bool = False) -> float:
    """Reduce a training checkpoint to FP16 EMA weights plus metadata (YOLOv5's strip); returns size in MB."""
    ckpt = load_checkpoint(path)
    if not keep_optimizer:
        weights = ckpt.get("ema") or ckpt["model"]
        ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        for key in ("ema", "optimizer", "scaler", "scheduler", "rng"):
            ckpt.pop(key, None)
        ckpt["stripped"] = True
    atomic_save(ckpt, path)
    return Path(path).stat().st_size / 1e6


def save_epoch(ckpt: dict, wdir: Path, epoch: int, improved: bool, save_period: int) -> None:
    """An epoch's checkpoint: best.pt when it improved, epoch{N}.pt every ``save_period`` epochs, and last.pt last:
    it is what a resume starts from, so a kill before it repeats the whole epoch."""
    if improved:
        atomic_save(ckpt, wdir / "best.pt")
    if save_period > 0 and epoch % save_period == 0:
        atomic_save(ckpt, wdir / f"epoch{epoch}.pt")
    atomic_save(ckpt, wdir / "last.pt")


def strip_weights(wdir: Path, keep_optimizer: bool, log: logging.Logger) -> None:
    """The end of a run: last.pt and best.pt stripped (strip_checkpoint)."""
    for name in ("last.pt", "best.pt"):
        f = wdir / name
        if f.exists():
            log.info("Optimizer stripped from %s, %.1fMB", f, strip_checkpoint(f, keep_optimizer=keep_optimizer))


def load_ema_weights(model: torch.nn.Module, path: Path) -> None:
    """A checkpoint's EMA weights into ``model`` as FP32: FP16 once stripped, the FP32 EMA with keep_optimizer."""
    ckpt = load_checkpoint(path)
    weights = ckpt.get("ema") or ckpt["model"]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})


def training_state(model: torch.nn.Module, ema: Any, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler) -> dict[str, Any]:
    """What a resume restores exactly (``restore_training_state``): weights, EMA, optimizer, loss scaler, RNGs."""
    return {"model": {k: v.detach().clone() for k, v in model.state_dict().items()}, "ema": ema.ema.state_dict(),
            "updates": int(ema.updates), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "rng": rng_state()}


def model_record(model: Any) -> dict[str, Any]:
    """What rebuilds the network without the config that trained it: architecture as data, classes, versions."""
    from datetime import datetime, timezone

    from yolo_exp import __version__

    return {"arch": dict(model.arch), "nc": int(model.nc), "names": list(model.names),
            "versions": {"yolo_exp": __version__, "torch": str(torch.__version__)},
            "date": datetime.now(timezone.utc).isoformat()}


def restore_training_state(ckpt: Mapping[str, Any], model: torch.nn.Module, ema: Any,
                           optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> bool:
    """Load a ``training_state`` (the RNGs are left to the caller: they are set last). A stripped checkpoint (the
    end of a finished run) holds only FP16 EMA weights: model and EMA start from them, the optimizer afresh.
    Returns whether the optimizer state was restored."""
    if ckpt.get("stripped"):
        weights = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
        model.load_state_dict(weights)
        ema.ema.load_state_dict(weights)
        ema.updates = ckpt.get("updates", 0)
        return False
    model.load_state_dict(ckpt["model"])
    ema.ema.load_state_dict(ckpt["ema"])
    ema.updates = ckpt["updates"]
    optimizer.load_state_dict(ckpt["optimizer"])
    scaler.load_state_dict(ckpt["scaler"])
    return True
