"""The one place that knows about ranks: who writes, and how ranks agree."""
from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", -1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", -1))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    """Rank 0, or the only process: the process that writes logs, plots and checkpoints."""
    return rank() in (-1, 0)
