"""Train a YOLOv5-style detector: `python train.py [group=option ...] [key=value ...]` (see README)."""
import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy machine spinning threads slow every op 5-10x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from yolo_exp.config.cli import run_entry
from yolo_exp.config.schema import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from yolo_exp.engine.run import train_task  # heavy imports (torch, cv2) only once a run starts

    return train_task(cfg)


if __name__ == "__main__":
    run_entry(main)
