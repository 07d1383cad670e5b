"""The epoch protocol of a training loader: one call per epoch fixes its order, YOLOv5's image weights, mosaic and
the batches a mid-epoch resume skips. Everything is a function of (seed, epoch), so a resumed run draws exactly
what the uninterrupted one drew, and the call may come early (the trainer starts the next epoch's workers while
it validates)."""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from yolo_exp.data.loader import epoch_seed


def class_weights(labels: list[np.ndarray], nc: int) -> np.ndarray:
    """Inverse class frequency over the training labels, normalised to sum 1 (YOLOv5's class weights)."""
    classes = np.concatenate([lb[:, 0] for lb in labels]).astype(int) if labels else np.zeros(0, int)
    counts = np.bincount(classes, minlength=nc).astype(float)
    counts[counts == 0] = 1
    return (1 / counts) / (1 / counts).sum()


def image_weights(labels: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per image, the sum of its labels' class weights: images of weak classes are drawn more often."""
    return np.array([weights[lb[:, 0].astype(int)].sum() for lb in labels])


def begin_epoch(loader: Any, dataset: Any, epoch: int, seed: int, mosaic: bool, nc: int,
                maps: np.ndarray | None = None, skip_batches: int = 0) -> Iterator:
    """Start ``loader`` on ``epoch``. ``maps`` (per-class mAP of the last validation) turns on YOLOv5's
    --image-weights: images are redrawn with class weights (1 - mAP)^2; ``skip_batches``: a resume inside the
    epoch continues after the batches already trained."""
    loader.sampler.set_epoch(epoch)
    if maps is not None:
        cw = class_weights(dataset.labels, nc) * nc * (1 - maps) ** 2 / nc
        iw = image_weights(dataset.labels, cw)
        n = len(dataset.labels)
        dataset.indices = random.Random(epoch_seed(seed, epoch)).choices(range(n), weights=iw + 1e-12, k=n)
    dataset.mosaic = mosaic
    if skip_batches:
        loader.sampler.skip = skip_batches * loader.batch_size
    return iter(loader)
