"""The commands: `python train.py|val.py|predict.py|export.py` in a checkout, `yolo-train|...` once installed.

The config tree is found through this package (yolo_exp/conf), so an installed copy works from any folder; the
command line is checked first (yolo_exp.config.cli), then handed to Hydra.
"""
import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy machine spinning threads slow every op 5-10x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from yolo_exp.config.cli import run_entry  # noqa: E402
from yolo_exp.config.schema import register_configs  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _train(cfg: DictConfig) -> float:
    from yolo_exp.engine.run import train_task  # heavy imports (torch, cv2) only once a run starts

    return train_task(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="val")
def _val(cfg: DictConfig) -> float:
    from yolo_exp.engine.val_run import val_task

    return val_task(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def _predict(cfg: DictConfig) -> int:
    from yolo_exp.predict.run import predict_task

    return predict_task(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def _export(cfg: DictConfig) -> str:
    from yolo_exp.deploy.run import export_task

    return export_task(cfg)


def train() -> None:
    """Train a YOLOv5-style detector: `yolo-train [group=option ...] [key=value ...]` (see README)."""
    register_configs()
    run_entry(_train)


def val() -> None:
    """Validate a checkpoint: `yolo-val weights=PATH [data=...] [task=val|test|train|speed]`."""
    register_configs()
    run_entry(_val, config_name="val")


def predict() -> None:
    """Detections on images, folders, videos and streams: `yolo-predict weights=PATH source=...`."""
    register_configs()
    run_entry(_predict, config_name="predict")


def export() -> None:
    """A checkpoint to ONNX or TorchScript: `yolo-export weights=PATH format=onnx|torchscript`."""
    register_configs()
    run_entry(_export, config_name="export")
