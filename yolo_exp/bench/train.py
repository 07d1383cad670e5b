"""`bench train`: the real training loop on a dataset, timed from the inside (no validation, no checkpoints)."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_exp.bench.profiling import peak_rss_gib


@dataclass
class _Timings:
    """What a timed training run records: per epoch (seconds, images), the time to the first optimizer step, per
    epoch the (time, batch size) of every loss call, and per epoch the seconds spent waiting for batches."""

    t0: float
    epochs: list[tuple[float, int]] = field(default_factory=list)
    first_iter: list[float] = field(default_factory=list)
    stamps: list[list[tuple[float, int]]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def waited(self, batches: Any) -> Any:
        """The batches, timing each wait for the next one."""
        it = iter(batches)
        while True:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            self.waits[-1] += time.perf_counter() - t
            yield batch


def _timed_fit(cfg, timing: _Timings) -> Any:
    """Train (no validation, no checkpoints) while recording ``timing``; returns the device."""
    import torch

    from yolo_exp.bench.profiling import sync
    from yolo_exp.build import build_trainer
    from yolo_exp.engine.trainer import Trainer

    threads = torch.get_num_threads()  # set by main(); kept even if the trainer sets its own

    class TimedTrainer(Trainer):
        def train_epoch(self, epoch, nb, batches=None):  # noqa: ANN001, ANN202
            sync(self.device)
            timing.stamps.append([])
            timing.waits.append(0.0)
            t0 = time.perf_counter()
            batches = batches if batches is not None else self.epoch_batches(epoch)
            out = super().train_epoch(epoch, nb, timing.waited(batches))
            sync(self.device)
            timing.epochs.append((time.perf_counter() - t0, len(self.train_loader.dataset)))
            return out

        def optimizer_step(self) -> None:
            if not timing.first_iter:
                timing.first_iter.append(time.perf_counter() - timing.t0)
            super().optimizer_step()

        def validate_epoch(self, epoch, final_epoch):  # noqa: ANN001, ANN202
            return {}, [0.0, 0.0, 0.0]

        def finish(self, result) -> None:  # noqa: ANN001
            pass

    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(cfg, Path(tmp), trainer_class=TimedTrainer)
        torch.set_num_threads(threads)
        loss_fn = trainer.compute_loss

        def timed_loss(preds, targets):  # noqa: ANN001, ANN202 - host time only: adds no synchronisation
            timing.stamps[-1].append((time.perf_counter(), preds[0].shape[0]))
            return loss_fn(preds, targets)

        trainer.compute_loss = timed_loss
        trainer.fit()
    return trainer.device


def bench_train(cfg, epochs: int = 3, t0: float | None = None) -> dict[str, Any]:
    """The real training loop on a dataset: images/s in steady state (first epoch and validation excluded), and
    the share of that time the loop waited for the data loader (``data_wait``: the workers cannot keep up).

    Time to first iteration counts from ``t0``: the process start for the command (imports included), the call
    itself when called in-process (a test, a notebook).
    """
    import torch
    from omegaconf import open_dict

    timing = _Timings(time.perf_counter() if t0 is None else t0)
    with open_dict(cfg):
        cfg.epochs, cfg.noplots, cfg.autoanchor, cfg.patience, cfg.nosave = epochs, True, False, 0, True
    dev = _timed_fit(cfg, timing)
    steady = timing.epochs[1:] or timing.epochs
    total_s, total_n = sum(t for t, _ in steady), sum(n for _, n in steady)
    # Within epochs (first loss call to last, later epochs): without the loader's refill at each epoch start,
    # which dominates on a fast GPU when an epoch has only a few batches.
    spans = [(e[-1][0] - e[0][0], sum(n for _, n in e[:-1])) for e in timing.stamps[1:] or timing.stamps
             if len(e) > 1]
    return {"bench": "train", "gpu_augment": bool(cfg.data.get("gpu_augment", False)),
            "images_per_s": total_n / total_s,
            "images_per_s_in_epoch": sum(n for _, n in spans) / sum(t for t, _ in spans) if spans else None,
            "data_wait": sum(timing.waits[1:] or timing.waits) / total_s,
            "epoch_s": [round(t, 2) for t, _ in timing.epochs],
            "time_to_first_iter_s": timing.first_iter[0] if timing.first_iter else None,
            "peak_gpu_gb": torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else 0.0,
            "peak_rss_gib": peak_rss_gib()}
