"""Find and normalise an architecture description: a name in conf/model, a yaml path, or a mapping."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yolo_exp.files.limits import load_yaml
from yolo_exp.files.paths import CONF_DIR

REQUIRED_KEYS = ("depth_multiple", "width_multiple", "anchors", "backbone", "head")
DEFAULTS: dict[str, Any] = {"activation": "SiLU", "ch": 3}


def conf_dir() -> Path:
    """The config tree (model yamls under model/)."""
    return CONF_DIR


def available_archs() -> list[str]:
    """Architecture names shipped in conf/model (excluding the schema defaults file)."""
    folder = conf_dir() / "model"
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("base"))


def load_arch(arch: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict with every key the builder needs; Hydra's ``defaults`` list is dropped."""
    if isinstance(arch, Mapping):
        data = copy.deepcopy(dict(arch))
        source = "mapping"
    else:
        path = Path(arch)
        if path.suffix not in (".yaml", ".yml"):
            path = conf_dir() / "model" / f"{arch}.yaml"
            if not path.is_file():
                raise FileNotFoundError(
                    f"unknown model {str(arch)!r}; known: {', '.join(available_archs())} (or give a yaml path)")
        data = load_yaml(path, f"architecture {path}")
        source = str(path)
        data.setdefault("name", path.stem)
    if not isinstance(data, dict):
        raise ValueError(f"architecture {source} is not a mapping")
    for key in ("defaults", "_target_", "_partial_"):  # Hydra's composition and instantiation keys
        data.pop(key, None)
    task = data.get("task")
    data["task"] = str(getattr(task, "value", task) or "detect")  # a plain string: checkpoints keep the arch
    for key, value in DEFAULTS.items():
        if data.get(key) is None:
            data[key] = value
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"architecture {source} lacks {', '.join(missing)}")
    data.setdefault("name", "custom")
    return data
