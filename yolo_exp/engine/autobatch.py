"""AutoBatch (``batch_size=auto`` or ``-1``): the largest training batch whose step fits a fraction of the free
CUDA memory, from a straight line fitted to the memory of a few profiled batch sizes, as YOLOv5's --batch-size -1.

The choice is a pure function of the measurements (``pick_batch``), so it is tested on any machine with a made-up
probe; only ``cuda_probe`` touches a GPU.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from yolo_exp.config.validate import ConfigError

PROFILED = (1, 2, 4, 8, 16)  # YOLOv5's sizes
LARGEST = 1024
FALLBACK = 16  # YOLOv5's default batch, used when the fit says something absurd

MemoryProbe = Callable[[int], "float | None"]  # batch -> GiB one training step needs (None: out of memory)


def pick_batch(needs: Sequence[float | None], free_gib: float, fraction: float,
               sizes: Sequence[int] = PROFILED) -> tuple[int, str]:
    """(batch, why) from the memory each of ``sizes`` needed (None where it ran out).

    A line through the sizes that fitted predicts the memory of any batch; the batch is the largest whose
    prediction stays within ``fraction`` of ``free_gib``, truncated to an integer as YOLOv5 does. A size that ran
    out of memory caps it below that size; a prediction outside 1..1024 (a flat or falling line, no memory) falls
    back to 16, as YOLOv5 does.
    """
    fitted = [(b, m) for b, m in zip(sizes, needs) if m is not None]
    if len(fitted) < 2:
        if fitted:  # only batch 1 fits: nothing to fit a line to, and nothing larger is known to fit
            return 1, f"only batch {fitted[0][0]} fitted in memory"
        raise ConfigError("batch_size=auto: even batch 1 does not fit in the GPU's memory")
    slope, intercept = np.polyfit([b for b, _ in fitted], [m for _, m in fitted], deg=1)
    budget = fraction * free_gib
    batch = int((budget - intercept) / slope) if slope > 0 else 0
    failed = [b for b, m in zip(sizes, needs) if m is None]
    if failed and batch >= failed[0]:
        batch = max((b for b in sizes if b < failed[0]), default=1)
        why = f"batch {failed[0]} ran out of memory"
    else:
        why = f"{slope:.3f} GiB per image + {intercept:.2f} GiB, {fraction:.0%} of {free_gib:.1f} GiB free"
    if not 1 <= batch <= LARGEST:
        return FALLBACK, f"the fit gave {batch}, outside 1..{LARGEST} ({why}); using {FALLBACK}"
    return batch, why


def cuda_probe(model: Any, imgsz: int, device: Any, autocast: Callable[[], Any]) -> MemoryProbe:
    """GiB that one forward and backward of ``model`` on a batch of blank ``imgsz`` images takes on ``device``
    beyond what is held before it (peak reserved memory), None when it runs out of memory."""
    import torch

    def probe(batch: int) -> float | None:
        torch.cuda.empty_cache()
        held = torch.cuda.memory_reserved(device)
        torch.cuda.reset_peak_memory_stats(device)
        try:
            x = torch.zeros(batch, 3, imgsz, imgsz, device=device)
            with autocast():
                out = model(x)
            sum(t.float().sum() for t in _tensors(out)).backward()
            return (torch.cuda.max_memory_reserved(device) - held) / 2**30
        except torch.cuda.OutOfMemoryError:
            return None
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()

    return probe


def _tensors(out: Any) -> list:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return [out]


def auto_batch(model: Any, imgsz: int, accel: Any, fraction: float, log: logging.Logger,
               world_size: int = 1) -> int:
    """Profile ``model`` through the accelerator's memory probe and return the batch for ``fraction`` of the free
    memory. Anything but one CUDA device is refused in one line (YOLOv5 silently trains batch 16 there)."""
    if world_size > 1:
        raise ConfigError("batch_size=auto: AutoBatch is for one GPU (as YOLOv5's); under DDP give the total "
                          "batch as a number")
    measured = accel.memory_probe(model, imgsz)
    if measured is None:
        raise ConfigError(f"batch_size=auto: AutoBatch measures CUDA memory and this run is on {accel.device}; "
                          "give a number (e.g. batch_size=16)")
    probe, free_gib = measured
    needs: list[float | None] = []
    for b in PROFILED:
        needs.append(probe(b))
        if needs[-1] is None:  # larger sizes would run out too
            needs += [None] * (len(PROFILED) - len(needs))
            break
    batch, why = pick_batch(needs, float(free_gib), fraction)
    shown = ", ".join(f"{b}: {'OOM' if m is None else f'{m:.2f}'}" for b, m in zip(PROFILED, needs))
    log.info("AutoBatch: batch_size=%d for imgsz %d (%s; GiB per batch %s)", batch, imgsz, why, shown)
    return batch
