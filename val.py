"""Validate a checkpoint: `python val.py weights=PATH [data=...] [task=val|test|train|speed]` (see README)."""
import hydra
from omegaconf import DictConfig

from yolo_exp.config.cli import run_entry
from yolo_exp.config.schema import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="val")
def main(cfg: DictConfig) -> float:
    from yolo_exp.engine.val_run import val_task  # heavy imports (torch, cv2) only once a run starts

    return val_task(cfg)


if __name__ == "__main__":
    run_entry(main, config_name="val")
