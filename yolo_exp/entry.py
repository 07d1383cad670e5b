"""The commands: `python train.py|val.py|predict.py|export.py` in a checkout, `yolo-train|...` once installed.

The config tree is found through this package (yolo_exp/conf), so an installed copy works from any folder; the
command line is checked first (yolo_exp.config.cli), then handed to Hydra.
"""
import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy machine spinning threads slow every op 5-10x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from yolo_exp.config.cli import run_entry  # noqa: E402
from yolo_exp.config.store import register_configs  # noqa: E402

# command -> (its config in conf/, the job it runs); jobs are imported when a run starts (torch, cv2 are heavy)
COMMANDS = {
    "train": ("config", "yolo_exp.commands.train", "train_task"),
    "val": ("val", "yolo_exp.commands.val", "val_task"),
    "predict": ("predict", "yolo_exp.commands.predict", "predict_task"),
    "export": ("export", "yolo_exp.commands.export", "export_task"),
}


def _main(command: str) -> Callable[[], Any]:
    config_name, module, job = COMMANDS[command]

    @hydra.main(version_base="1.3", config_path="conf", config_name=config_name)
    def main(cfg: DictConfig) -> Any:
        with own_job_folder(config_name) as owned:
            return getattr(importlib.import_module(module), job)(cfg) if owned else float("nan")

    return main


@contextlib.contextmanager
def own_job_folder(config_name: str) -> Iterator[bool]:
    """The job's run folder is this process's while the job runs (rank 0's, under DDP: the others write nothing).

    A folder named on the command line was claimed before Hydra wrote into it (config/cli.py); a folder Hydra
    named, or a sweep job's, is claimed here. Another process's folder: one line; a single run exits 2, a sweep
    goes on with its next job (False)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from yolo_exp.config.validate import ConfigError
    from yolo_exp.files.owner import COMMANDS, claim, holds, release
    from yolo_exp.parallel import dist
    from yolo_exp.parallel.cluster import join_task_group

    join_task_group()  # a multi-task SLURM/submitit job: one DDP run, as under torchrun (sets the ranks)
    if not dist.is_main():
        yield True
        return
    hc = HydraConfig.get()
    run_dir, had = Path(hc.runtime.output_dir), holds(Path(hc.runtime.output_dir))
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        claim(run_dir, COMMANDS[config_name], "this job is left to it" if multirun else "nothing was changed")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(2)
        yield False
        return
    try:
        yield True
    finally:
        if not had:  # a sweep's worker process goes on to other jobs
            release(run_dir)


def _run(command: str) -> None:
    register_configs()
    run_entry(_main(command), config_name=COMMANDS[command][0])


def train() -> None:
    """Train a YOLOv5-style detector: `yolo-train [group=option ...] [key=value ...]` (see README)."""
    _run("train")


def val() -> None:
    """Validate a checkpoint: `yolo-val weights=PATH [data=...] [task=val|test|train|speed]`."""
    _run("val")


def predict() -> None:
    """Detections on images, folders, videos and streams: `yolo-predict weights=PATH source=...`."""
    _run("predict")


def export() -> None:
    """A checkpoint to ONNX or TorchScript: `yolo-export weights=PATH format=onnx|torchscript`."""
    _run("export")
