"""Non-finite and diverging losses, watched without making the loop wait for the GPU."""
from __future__ import annotations

import logging
import math

import torch

from yolo_exp.parallel import dist

MAX_BAD_STEPS = 10  # consecutive non-finite losses before training stops


class LossGuard:
    """Counts consecutive non-finite losses on the device (across epoch boundaries), read back only at display
    intervals, and warns once when an epoch's loss grows 10x over the lowest so far."""

    def __init__(self, device: torch.device, log: logging.Logger) -> None:
        self.bad_run = torch.zeros((), dtype=torch.long, device=device)  # consecutive non-finite losses
        self.bad_seen = 0  # ... as last read
        self.loss_floor, self.warned_divergence = math.inf, False
        self.log = log

    def step(self, finite: torch.Tensor) -> None:
        self.bad_run = (self.bad_run + 1) * ~finite

    def check(self, epoch: int, i: int) -> None:
        """Stop after MAX_BAD_STEPS consecutive non-finite losses (on any rank), read from the device only here,
        so that the loop never waits for the GPU in between."""
        bad = int(dist.global_max(self.bad_run))
        if bad >= MAX_BAD_STEPS:
            raise FloatingPointError(f"loss was NaN/Inf for {MAX_BAD_STEPS} consecutive steps (epoch {epoch + 1}, "
                                     f"iteration {i}); weights/last.pt keeps the last good epoch. Try a lower "
                                     "hyp.lr0 or device.amp=false.")
        if bad > self.bad_seen:
            self.log.warning("non-finite loss for %d consecutive iterations up to epoch %d iteration %d: their "
                             "optimizer steps are skipped", bad, epoch + 1, i)
        self.bad_seen = bad

    def epoch_loss(self, loss: float, lr0: float) -> None:
        """Warn once when an epoch's mean loss is 10x the lowest so far: the run is diverging (lr0 too high, say)
        while every step still looks finite to the NaN guard."""
        floor = self.loss_floor
        if loss > 10 * floor and not self.warned_divergence:
            self.warned_divergence = True
            self.log.warning("the training loss grew %.3gx (from %.4g to %.4g): training is diverging; try a lower "
                             "hyp.lr0 (now %g)", loss / floor, floor, loss, lr0)
        self.loss_floor = min(floor, loss)
