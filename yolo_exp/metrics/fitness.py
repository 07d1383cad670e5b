"""Scalar model quality used to pick best.pt, stop early and rank evolution parents."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The one name of each validation metric, everywhere: validation results, callbacks, checkpoints, fitness weights,
# summary.json, compare's tables, Optuna objectives. Only results.csv (and TensorBoard) keep YOLOv5's column names
# for them, as its file format (report/results.METRIC_COLUMNS).
METRICS = ("precision", "recall", "map50", "map")  # P, R, mAP@0.5, mAP@0.5:0.95
MASK_METRICS = tuple(f"mask_{m}" for m in METRICS)  # segmentation: the same four scored on masks
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({"precision": 0.0, "recall": 0.0, "map50": 0.1, "map": 0.9})


def fitness(metrics: Mapping[str, float], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    """Weighted sum of validation metrics; YOLOv5 hard-codes 0.1*mAP@0.5 + 0.9*mAP@0.5:0.95, here it is config.

    Every weighted key must be present in ``metrics``, so a typo in a config fails loudly instead of scoring 0.
    With mask metrics (segmentation) an unset (None) mask weight is its box metric's: YOLOv5-seg's fitness is the
    same 0.1/0.9 sum over the box and the mask mAPs.
    """
    weights = _with_mask_weights(weights, "mask_map" in metrics)
    missing = [k for k, w in weights.items() if w and k not in metrics]
    if missing:
        raise KeyError(f"fitness weights name metrics that were not computed: {missing}; have {sorted(metrics)}")
    return float(sum(w * float(metrics[k]) for k, w in weights.items() if w))


def _with_mask_weights(weights: Mapping[str, float | None], masks: bool) -> dict[str, float]:
    out = {k: w for k, w in weights.items() if w is not None}
    if masks:
        for box, mask in zip(METRICS, MASK_METRICS):
            if weights.get(mask) is None:
                out[mask] = float(weights.get(box) or 0.0)
    return out
