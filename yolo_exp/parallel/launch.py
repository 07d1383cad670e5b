"""DDP from one command (``device=0,1``, ``device.gpus=N``, ``device=cpu device.processes=N``): the command starts
its training processes itself through torch's elastic launch API, the machinery behind torchrun, so each process
sees exactly what it would under ``torchrun --standalone --nproc_per_node=N`` (ranks, rendezvous, the job id) and
the rest of the code has one DDP path.

The launching process keeps the run folder (it was claimed before Hydra wrote into it) and hands it to the
processes by name; rank 0 writes, as under torchrun.
"""
from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from yolo_exp.config.quoting import hydra_quote
from yolo_exp.config.validate import ConfigError
from yolo_exp.files.owner import LAUNCHED_FOLDER



def child_argv(script: str, overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The command each process runs: this command's script and overrides, in the launching job's folder."""
    folder = hydra_quote(str(run_dir.resolve()))
    rest = [o for o in overrides if not o.startswith(("hydra.run.dir=", "resume="))]
    resumed = [f"resume={folder}"] if any(o.startswith("resume=") and not o.endswith("=null") for o in overrides) \
        else []
    return [script, *rest, *resumed, f"hydra.run.dir={folder}"]


def launch(n: int, argv: Sequence[str], gpus: list[int] | None, run_dir: Path) -> None:
    """Run ``python argv`` as ``n`` DDP processes on this machine and wait for them; a failure of any is a
    RuntimeError naming the rank and its exit status (each rank has printed its own one-line error)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if gpus is not None:
        import torch

        count = torch.cuda.device_count()
        missing = [i for i in gpus if i >= count]
        if missing:
            raise ConfigError(f"device.gpus={gpus}: this machine has {count} CUDA device(s) (0..{count - 1})")
    env = {LAUNCHED_FOLDER: str(run_dir.resolve())}
    if gpus is not None:  # local rank r trains on cuda:r, the r-th visible GPU: the r-th asked for
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpus)
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun's habit, sized to the machine instead of 1
        env["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // n))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the processes inherit this process's environment
    try:
        elastic_launch(config, entrypoint=sys.executable)(*argv)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        raise RuntimeError(f"training process {rank} of {n} failed (exit status {failure.exitcode}); "
                           f"its error is above, its log in {run_dir}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
