"""Ctrl-C and a cluster's warning signal as requests that the training loop honours at safe points."""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yolo_exp.config.resume import current_sweep_dir, resume_command
from yolo_exp.parallel import dist
from yolo_exp.parallel.cluster import warning_signal


class StopRequests:
    """``requested``: stop at the next optimizer step (saving last.pt there); ``at_once``: the loop is validating or
    finishing, where a Ctrl-C stops there and then; ``preempted``: (signal, the cluster's handler) once the cluster
    warned of the end, so the job requeues itself after last.pt is saved."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.requested = False
        self.at_once = False
        self.preempted: tuple[int, Any] | None = None

    def catch(self) -> Callable[[], None]:
        """Ctrl-C while training: finish the current optimizer step (or the epoch's record and checkpoint), save
        last.pt there, stop. While validating: stop at once, keeping the trained epoch. While finishing, or on a
        second Ctrl-C: stop at once (last.pt is never half-written; a resume finishes what is left).

        Stopping on an optimizer-step boundary leaves no half-accumulated gradient, and the sampler order and the
        augmentation are functions of (seed, epoch, index), so a resume continues exactly where the run stopped.
        """
        if threading.current_thread() is not threading.main_thread() or dist.world_size() > 1:
            return lambda: None  # under torchrun the agent owns signals; elastic resume covers restarts

        def on_sigint(signum, frame):  # noqa: ANN001
            stop_now = self.requested or self.at_once
            self.requested = True
            if stop_now:
                raise KeyboardInterrupt
            self.log.warning("Ctrl-C: saving weights/last.pt after this optimizer step (Ctrl-C again to stop at "
                             "once)")

        previous = signal.signal(signal.SIGINT, on_sigint)
        warning = warning_signal()  # a cluster's notice before a time limit or preemption (submitit: USR2)
        if warning is None:
            return lambda: signal.signal(signal.SIGINT, previous)

        def on_warning(signum, frame):  # noqa: ANN001
            self.log.warning("%s from the cluster: saving weights/last.pt after this optimizer step, then "
                             "requeueing", signal.Signals(signum).name)
            self.preempted = (signum, warning[1])  # submitit's handler requeues once last.pt is saved
            on_sigint(signum, frame)

        signal.signal(warning[0], on_warning)

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)
            signal.signal(warning[0], warning[1])

        return restore

    def tell_interrupted(self, run_dir: Path, state: str) -> None:
        """The one warning of an interrupted run: what last.pt holds, and the command that continues it."""
        self.log.warning("interrupted: weights/last.pt holds %s; continue with\n  %s", state,
                         resume_command(run_dir, sweep_dir=current_sweep_dir()))
