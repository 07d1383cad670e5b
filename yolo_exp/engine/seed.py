"""One seed for every generator a run draws from, as YOLOv5's init_seeds."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool, benchmark: bool = False) -> None:
    """Seed every generator; ``deterministic`` means what YOLOv5's init_seeds means: deterministic algorithms.

    Ops without a deterministic kernel on the device warn instead of failing (``warn_only``), and uninitialised
    memory is not filled (that costs time and changes nothing a run computes). cuDNN's autotuner
    (``device.cudnn_benchmark``) picks kernels by timing, so it only applies when ``deterministic=false``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, read at its first use
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.deterministic = True
        benchmark = False
    torch.backends.cudnn.benchmark = benchmark
