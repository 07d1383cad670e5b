"""Where a run starts: epoch 0 with no best yet, or where its last.pt left off (resume, extension, finishing)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_exp.engine.checkpoint import restore_training_state, set_rng_state


@dataclass
class StartPoint:
    epoch: int = 0                              # the first epoch to train
    finishing: bool = False                     # training is done: only the run's end is left
    partial: dict | None = None                 # stopped by Ctrl-C inside `epoch`: where
    end_status: tuple[str, str] | None = None   # (status, reason) of a run a callback stopped
    best_fitness: float = -1.0
    best_epoch: int = -1
    best_metrics: dict[str, float] = field(default_factory=dict)


def restore(ckpt: dict, epochs: int, parts: tuple[Any, Any, Any, Any], last_pt: Path,
            log: logging.Logger) -> StartPoint:
    """Load last.pt's training state into (model, ema, optimizer, scaler) and the random generators, and say where
    the run goes on; ``epochs``: the run's epochs now (more than it was run for: the run is extended)."""
    start = StartPoint(epoch=ckpt["epoch"] + 1)
    if start.epoch > epochs:
        raise ValueError(f"epochs={epochs}: this run has already trained {start.epoch} epochs")
    old_epochs = ckpt["config"]["epochs"]
    # Stopped after its last epoch (or its early stop): only the end of the run is left.
    start.finishing = start.epoch == epochs or (ckpt.get("final", False) and epochs == old_epochs)
    exact = restore_training_state(ckpt, *parts)
    if not exact and not start.finishing:  # a finished run being extended: only its FP16 EMA weights were kept
        log.warning("resume: %s was stripped at the end of training; continuing from its final EMA weights "
                    "with a fresh optimizer state (keep_optimizer=true keeps a run exactly resumable)", last_pt)
    start.partial = ckpt.get("partial")  # stopped by Ctrl-C inside epoch start.epoch
    if start.finishing and ckpt.get("stopped"):
        start.end_status = (ckpt["stopped"]["status"], ckpt["stopped"]["reason"])
    start.best_fitness, start.best_epoch = ckpt["best_fitness"], ckpt["best_epoch"]
    start.best_metrics = dict(ckpt.get("best_metrics", {}))
    if epochs != old_epochs:
        log.info("resume: extending the run from %d to %d epochs; the LR schedule is stretched to the new end",
                 old_epochs, epochs)
    if "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return start
