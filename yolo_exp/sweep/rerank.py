"""Ranking finished runs under other fitness weights, from their results.csv, without retraining.

YOLOv5 fixes fitness at 0.1·mAP@0.5 + 0.9·mAP@0.5:0.95; a user who cares about recall asks which run is best by
another measure. Each run's best epoch is chosen again from its per-epoch validation rows (ties go to the later
epoch, as best.pt does), so the table shows the metrics of the epoch that the new weights prefer.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yolo_exp.metrics.fitness import MASK_METRICS, METRICS, fitness
from yolo_exp.report.results import row_metrics


def parse_weights(text: str) -> dict[str, float]:
    """``map50=1,map=0`` -> every box weight, the unnamed ones 0 (mask weights, when unnamed, follow the box ones,
    as in training); refuses unknown names and all-zero weights."""
    weights: dict[str, Any] = {**dict.fromkeys(METRICS, 0.0), **dict.fromkeys(MASK_METRICS)}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in weights:
            raise ValueError(f"--fitness {text}: expected NAME=WEIGHT with NAME in {', '.join(weights)}")
        weights[name] = float(value)
    weights = {k: w for k, w in weights.items() if w is not None}
    if any(w < 0 for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"--fitness {text}: weights must be >= 0 and not all 0")
    return weights


def best_epoch(history: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> tuple[int, dict] | None:
    """(epoch counted from 1 as the log and summary.json count it, {short metric: value, 'fitness': f}) of the
    epoch these weights rank first; None without rows."""
    epochs = list(history.get("epoch", []))
    rows = [row_metrics({c: v[i] for c, v in history.items() if i < len(v)}) for i in range(len(epochs))]
    if not epochs or any(m not in rows[0] for m in METRICS):
        return None
    scored = []
    for i, metrics in enumerate(rows):
        metrics = {k: float(v) for k, v in metrics.items()}
        scored.append((fitness(metrics, weights), i, metrics))
    fit, i, metrics = max(scored, key=lambda s: (s[0], s[1]))
    return int(epochs[i]) + 1, {**metrics, "fitness": fit}
