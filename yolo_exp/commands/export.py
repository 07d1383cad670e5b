"""export.py inside Hydra: the exported file goes into the run folder; a failure is one line."""
from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from yolo_exp.config.validate import run_weights
from yolo_exp.engine.errors import exit_for, report_failure
from yolo_exp.files.atomic import atomic_write_text


def export_task(cfg: DictConfig) -> str:
    from yolo_exp.deploy.export import LOG, export

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    LOG.info("Run folder: %s", run_dir)
    cfg.weights = str(run_weights(cfg.weights))  # a run folder: its best.pt, recorded in config_resolved.yaml
    atomic_write_text(run_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    try:
        return str(export(cfg, run_dir))
    except Exception as exc:  # noqa: BLE001
        report_failure(exc)
        raise exit_for(exc) from None
