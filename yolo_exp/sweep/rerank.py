"""Ranking finished runs under other fitness weights, from their results.csv, without retraining.

YOLOv5 fixes fitness at 0.1·mAP@0.5 + 0.9·mAP@0.5:0.95; a user who cares about recall asks which run is best by
another measure. Each run's best epoch is chosen again from its per-epoch validation rows (ties go to the later
epoch, as best.pt does), so the table shows the metrics of the epoch that the new weights prefer.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from yolo_exp.metrics.fitness import fitness
from yolo_exp.report.results import METRIC_COLUMNS as COLUMNS


def parse_weights(text: str) -> dict[str, float]:
    """``map50=1,map=0`` -> every weight, the unnamed ones 0; refuses unknown names and all-zero weights."""
    weights = dict.fromkeys(COLUMNS, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in COLUMNS:
            raise ValueError(f"--fitness {text}: expected NAME=WEIGHT with NAME in {', '.join(COLUMNS)}")
        weights[name] = float(value)
    if any(w < 0 for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"--fitness {text}: weights must be >= 0 and not all 0")
    return weights


def best_epoch(history: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> tuple[int, dict] | None:
    """(epoch, {short metric: value, 'fitness': f}) of the epoch these weights rank first; None without rows."""
    epochs = list(history.get("epoch", []))
    if not epochs or any(c not in history for c in COLUMNS.values()):
        return None
    scored = []
    for i in range(len(epochs)):
        metrics = {k: float(history[c][i]) for k, c in COLUMNS.items()}
        scored.append((fitness(metrics, weights), i, metrics))
    fit, i, metrics = max(scored, key=lambda s: (s[0], s[1]))
    return int(epochs[i]), {**metrics, "fitness": fit}
