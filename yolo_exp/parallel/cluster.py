"""Jobs started by submitit (SLURM, or its local executor): one DDP group per multi-task job, and the cluster's
warning signal before a time limit or preemption.

submitit installs a handler for that signal (USR2 unless SUBMITIT_PREEMPT_SIGNAL says otherwise) that checkpoints
the job (for Hydra's launcher: the same call again), requeues it and exits. The trainer takes the signal first,
saves last.pt at the next optimizer step (as for Ctrl-C), and then hands over to submitit's handler: the requeued
job finds its own last.pt in its folder and continues (commands/train.py, job_in_its_folder).
"""
from __future__ import annotations

import os
import signal
from typing import Any, Callable


def in_submitit_job() -> bool:
    return "SUBMITIT_EXECUTOR" in os.environ


def join_task_group() -> None:
    """A job of several submitit tasks (tasks_per_node > 1): set torch.distributed's variables (RANK, WORLD_SIZE,
    MASTER_ADDR/PORT, LOCAL_RANK) from SLURM's or submitit's, so the trainer's DDP path (the one torchrun uses)
    forms one run. Nothing to do for one task, or when torchrun already set them."""
    if not in_submitit_job() or "RANK" in os.environ:
        return
    import submitit

    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def warning_signal() -> tuple[int, Callable[..., Any]] | None:
    """(signal, submitit's handler) in a submitit job of one task; None elsewhere. Under DDP the handler is left
    alone: every rank would have to stop at the same step, and a requeued DDP job resumes from its last epoch."""
    if not in_submitit_job() or int(os.environ.get("WORLD_SIZE", 1)) > 1:
        return None
    sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    handler = signal.getsignal(sig) if sig is not None else None
    return (sig, handler) if callable(handler) else None
