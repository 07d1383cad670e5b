"""Every schema registered in Hydra's ConfigStore, where the yaml files' ``defaults: [base_<group>]`` find them."""
from __future__ import annotations

from yolo_exp.config.commands import ExportRunConfig, PredictRunConfig, ValRunConfig
from yolo_exp.config.schema import (AdamConfig, AdamWConfig, DataConfig, DeviceConfig, HypConfig, MLflowLoggerConfig,
                                    ModelConfig, SGDConfig, TensorBoardLoggerConfig, TrainConfig)

GROUP_SCHEMAS = {
    "model": {"base_model": ModelConfig},
    "data": {"base_data": DataConfig},
    "hyp": {"base_hyp": HypConfig},
    "optimizer": {"base_sgd": SGDConfig, "base_adam": AdamConfig, "base_adamw": AdamWConfig},
    "device": {"base_device": DeviceConfig},
    "logger": {"base_tensorboard": {"tensorboard": TensorBoardLoggerConfig},
               "base_mlflow": {"mlflow": MLflowLoggerConfig}},
}


def register_configs() -> None:
    """Register the schemas; idempotent, so tests and entry points may call it freely."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=TrainConfig)
    cs.store(name="base_val_config", node=ValRunConfig)
    cs.store(name="base_predict_config", node=PredictRunConfig)
    cs.store(name="base_export_config", node=ExportRunConfig)
    for group, nodes in GROUP_SCHEMAS.items():
        for name, node in nodes.items():
            cs.store(group=group, name=name, node=node)
