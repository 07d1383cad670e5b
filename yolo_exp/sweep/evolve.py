"""Hyperparameter evolution as YOLOv5 v7.0 `--evolve`: parent selection, mutation, evolve.csv, hyp_evolve.yaml.

Numbers follow YOLOv5 v7.0: per-key (gain, lower, upper); parents from the top min(5, rows) by fitness,
picked at random with weights fitness - min + 1e-6 ('single') or their weighted mean ('weighted');
multiplicative mutation `v = (gain * (u < mp) * z * r * sigma + 1).clip(0.3, 3.0)`, redrawn until something
changes; clipped to the bounds and rounded to 5 digits. Unlike YOLOv5 (numpy reseeded from the clock) every
individual draws from its own generator seeded with (seed, generation, index), so a sweep is reproducible
and a resumed one proposes what the uninterrupted one would have.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.report.results import METRIC_COLUMNS

# YOLOv5 v7.0 train.py meta: key -> (mutation gain, lower limit, upper limit).
META: dict[str, tuple[float, float, float]] = {
    "lr0": (1, 1e-5, 1e-1), "lrf": (1, 0.01, 1.0), "momentum": (0.3, 0.6, 0.98),
    "weight_decay": (1, 0.0, 0.001), "warmup_epochs": (1, 0.0, 5.0), "warmup_momentum": (1, 0.0, 0.95),
    "warmup_bias_lr": (1, 0.0, 0.2), "box": (1, 0.02, 0.2), "cls": (1, 0.2, 4.0), "cls_pw": (1, 0.5, 2.0),
    "obj": (1, 0.2, 4.0), "obj_pw": (1, 0.5, 2.0), "iou_t": (0, 0.1, 0.7), "anchor_t": (1, 2.0, 8.0),
    "anchors": (2, 2.0, 10.0), "fl_gamma": (0, 0.0, 2.0), "hsv_h": (1, 0.0, 0.1), "hsv_s": (1, 0.0, 0.9),
    "hsv_v": (1, 0.0, 0.9), "degrees": (1, 0.0, 45.0), "translate": (1, 0.0, 0.9), "scale": (1, 0.0, 0.9),
    "shear": (1, 0.0, 10.0), "perspective": (0, 0.0, 0.001), "flipud": (1, 0.0, 1.0), "fliplr": (0, 0.0, 1.0),
    "mosaic": (1, 0.0, 1.0), "mixup": (1, 0.0, 1.0), "copy_paste": (1, 0.0, 1.0),
}
RESULT_COLUMNS = (*METRIC_COLUMNS.values(), "val/box_loss", "val/obj_loss", "val/cls_loss")  # YOLOv5's evolve.csv
LEAD_COLUMNS = ("generation", "job", "fitness", *RESULT_COLUMNS)


@dataclass(frozen=True)
class Mutation:
    mp: float = 0.8      # probability that a key mutates
    sigma: float = 0.2   # mutation scale
    parents: int = 5     # parents drawn from the top-n rows by fitness
    selection: str = "single"  # 'single' (weighted random parent) | 'weighted' (weighted mean of the top n)


def evolvable_keys(base: Mapping[str, object], meta: Mapping[str, Sequence[float]],
                   keys: Sequence[str] | None = None) -> list[str]:
    """Keys to evolve: those asked for, else every numeric base key with a nonzero gain. Checked, in order."""
    numeric = {k for k, v in base.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if keys is None:
        return [k for k in base if k in numeric and k in meta and meta[k][0] != 0]
    unknown = [k for k in keys if k not in numeric]
    if unknown:
        raise ValueError(f"cannot evolve {', '.join(unknown)}: not a number in the base hyp")
    no_meta = [k for k in keys if k not in meta]
    if no_meta:
        raise ValueError(f"cannot evolve {', '.join(no_meta)}: no (gain, lower, upper) given in meta")
    if all(meta[k][0] == 0 for k in keys):
        raise ValueError("every key to evolve has mutation gain 0: nothing would change")
    return list(keys)


def select_parent(values: np.ndarray, fitness: np.ndarray, rng: np.random.Generator,
                  cfg: Mutation = Mutation()) -> np.ndarray:
    """values (rows, keys), fitness (rows,) -> one parent vector from the top min(parents, rows)."""
    n = min(cfg.parents, len(fitness))
    top = np.argsort(-fitness, kind="stable")[:n]
    x, f = values[top], fitness[top]
    w = f - f.min() + 1e-6
    if cfg.selection == "single":
        return x[rng.choice(n, p=w / w.sum())]
    if cfg.selection == "weighted":
        return (x * w[:, None]).sum(0) / w.sum()
    raise ValueError(f"selection={cfg.selection!r}: expected 'single' or 'weighted'")


def mutate(parent: np.ndarray, gains: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           rng: np.random.Generator, cfg: Mutation = Mutation()) -> np.ndarray:
    """Multiply by factors in [0.3, 3], redrawn until one differs from 1; then clip and round to 5 digits."""
    if not np.any(gains):
        raise ValueError("all mutation gains are 0")
    v = np.ones(len(parent))
    while np.all(v == 1):
        v = (gains * (rng.random(len(parent)) < cfg.mp) * rng.standard_normal(len(parent)) * rng.random()
             * cfg.sigma + 1).clip(0.3, 3.0)
    return np.round(np.clip(parent * v, lower, upper), 5)


@dataclass
class EvolveTable:
    """evolve.csv: generation, job, fitness, YOLOv5's 7 result columns, then one column per evolved key."""

    keys: list[str]
    rows: list[dict[str, float]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*LEAD_COLUMNS, *self.keys]

    @classmethod
    def load(cls, path: Path, keys: Sequence[str]) -> "EvolveTable":
        """Resume from an existing evolve.csv; its hyp columns must be the keys being evolved."""
        table = cls(list(keys))
        if not path.is_file():
            return table
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        header = [h.strip() for h in lines[0].split(",")]
        if header != table.columns:
            raise ValueError(f"{path}: columns {header[len(LEAD_COLUMNS):]} differ from the keys being evolved "
                             f"{list(keys)}; use another hydra.sweep.dir or the same keys")
        table.rows = [dict(zip(header, map(float, ln.split(",")))) for ln in lines[1:]]
        return table

    @property
    def next_generation(self) -> int:
        return int(max((r["generation"] for r in self.rows), default=-1)) + 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        values = np.array([[r[k] for k in self.keys] for r in self.rows], dtype=float).reshape(-1, len(self.keys))
        return values, np.array([r["fitness"] for r in self.rows], dtype=float)

    def append(self, path: Path, row: Mapping[str, float]) -> None:
        """Append a row (header first if new): %20s names, %20.5g results, %20.8g hyps (keep 5 decimals)."""
        full = {c: float(row.get(c, math.nan)) for c in self.columns}
        self.rows.append(full)
        text = "" if path.is_file() else ",".join(f"{c:>20s}" for c in self.columns) + "\n"
        cells = [f"{full[c]:20.5g}" for c in LEAD_COLUMNS] + [f"{full[k]:20.8g}" for k in self.keys]
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text + ",".join(cells) + "\n")

    def best(self) -> dict[str, float] | None:
        scored = [r for r in self.rows if math.isfinite(r["fitness"])]
        return max(scored, key=lambda r: r["fitness"]) if scored else None


def propose(base: Mapping[str, float], table: EvolveTable, meta: Mapping[str, Sequence[float]], generation: int,
            index: int, seed: int, cfg: Mutation = Mutation()) -> dict[str, float]:
    """Hyp values for individual `index` of `generation`, from the table as it stood when the generation began.

    With no rows yet, the parent is the base hyp and individual 0 of the first generation trains it unchanged
    (YOLOv5's first generation).
    """
    keys = table.keys
    if not table.rows and generation == 0 and index == 0:
        return {k: float(base[k]) for k in keys}
    rng = np.random.default_rng([seed, generation, index])
    if table.rows:
        values, fitness = table.arrays()
        parent = select_parent(values, fitness, rng, cfg)
    else:
        parent = np.array([float(base[k]) for k in keys])
    m = np.array([meta[k] for k in keys], dtype=float)
    child = mutate(parent, m[:, 0], m[:, 1], m[:, 2], rng, cfg)
    return {k: float(v) for k, v in zip(keys, child)}


def use_command(hyp_file: Path) -> str:
    """Overrides training with an evolve sweep's result: ``experiment=hyp_evolve`` (the sweep joins the search path),
    which wins over a data recipe's hyp values as ``hyp=hyp_evolve`` would not."""
    return f"'hydra.searchpath=[file://{hyp_file.resolve().parent.parent}]' experiment={hyp_file.stem}"


def write_hyp_evolve(path: Path, base: Mapping[str, object], table: EvolveTable,
                     base_choice: str | None) -> dict[str, object] | None:
    """hyp_evolve.yaml: the base hyp with the best row's values, as a `hyp` group option extending the base (YOLOv5's
    file), and as experiment/hyp_evolve.yaml, every hyp value, to train with."""
    import yaml

    from yolo_exp.sweep.experiment import write_experiment

    best = table.best()
    if best is None:
        return None
    hyp = {**base, **{k: best[k] for k in table.keys}}
    header = [
        "# Hyperparameter evolution results (YOLOv5-style)",
        f"# Best generation: {int(best['generation'])} (job {int(best['job'])}) of {table.next_generation}",
        f"# Fitness: {best['fitness']:.5g}",
        "# " + ", ".join(f"{c}={best[c]:.5g}" for c in RESULT_COLUMNS),
        f"# Use: python train.py {use_command(path)}",
    ]
    body = ({"defaults": [base_choice, "_self_"]} if base_choice else {}) | hyp
    atomic_write_text(path, "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False))
    node = path.parent.name  # the hyp node's name (hydra.sweeper.hyp_node)
    values = ({node: base_choice} if base_choice else {}) | {f"{node}.{k}": v for k, v in hyp.items()}
    write_experiment(path.parent.parent / "experiment" / path.name, values, [node], "\n".join(header) + "\n")
    return hyp
