"""Where things are: the config tree, and derived files (label and image caches, the generated demo dataset)."""
from __future__ import annotations

import os
from pathlib import Path

# The config tree ships inside the package (the checkout's conf/ links to it), so an installed copy finds it.
CONF_DIR = Path(__file__).resolve().parent / "conf"


def default_cache_dir() -> Path:
    """Where derived files live: ``$YOLO_EXP_CACHE_DIR``, else ``$XDG_CACHE_HOME/yolo_exp``, else ``~/.cache/yolo_exp``."""
    if os.environ.get("YOLO_EXP_CACHE_DIR"):
        return Path(os.environ["YOLO_EXP_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "yolo_exp"
    return Path.home() / ".cache" / "yolo_exp"


def cache_dir_of(value: str | None) -> Path | None:
    """A ``cache_dir`` config value as a folder (``~`` expanded); None means the default."""
    return Path(value).expanduser() if value else None
