"""YOLOv5 v7.0 evolution numbers: parent selection, mutation, evolve.csv round trip, hyp_evolve.yaml."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from yolo_exp.files.paths import CONF_DIR
from yolo_exp.sweep.evolve import (META, RESULT_COLUMNS, EvolveTable, Mutation, evolvable_keys, mutate, propose,
                                   select_parent, write_hyp_evolve)

BASE = {"lr0": 0.01, "momentum": 0.937, "iou_t": 0.2, "fliplr": 0.5, "anchors": None, "scale": 0.5}


def test_mutation_matches_yolov5_formula():
    parent = np.array([0.01, 0.937, 0.5])
    gains, lo, hi = (np.array([META[k][i] for k in ("lr0", "momentum", "scale")]) for i in range(3))
    child = mutate(parent, gains, lo, hi, np.random.default_rng(3))
    replay = np.random.default_rng(3)  # the same draws, in YOLOv5's order: rand(n) < mp, randn(n), rand()
    v = (gains * (replay.random(3) < 0.8) * replay.standard_normal(3) * replay.random() * 0.2 + 1).clip(0.3, 3.0)
    assert np.array_equal(child, np.round(np.clip(parent * v, lo, hi), 5))
    assert np.all(child >= lo) and np.all(child <= hi) and not np.array_equal(child, parent)


def test_mutation_bounds_rounding_and_zero_gain():
    rng = np.random.default_rng(0)
    parent = np.array([0.1, 0.98, 0.2])
    gains, lo, hi = np.array([1.0, 0.3, 0.0]), np.array([1e-5, 0.6, 0.1]), np.array([0.1, 0.98, 0.7])
    kids = np.array([mutate(parent, gains, lo, hi, rng, Mutation(sigma=2.0)) for _ in range(200)])
    assert np.all(kids >= lo) and np.all(kids <= hi)
    assert np.all(kids[:, 2] == 0.2)  # gain 0 never moves
    assert np.array_equal(kids, np.round(kids, 5))
    assert kids[:, 0].min() >= 0.03 - 1e-9  # factor clipped at 0.3
    with pytest.raises(ValueError):
        mutate(parent, np.zeros(3), lo, hi, rng)


def test_parent_selection_top5_weighted():
    values = np.arange(7, dtype=float)[:, None]
    fitness = np.array([0.1, 0.9, 0.5, 0.0, 0.7, 0.6, 0.3])
    rng = np.random.default_rng(0)
    picks = [select_parent(values, fitness, rng)[0] for _ in range(3000)]
    assert set(picks) <= {1.0, 4.0, 5.0, 2.0}  # top 5 = rows 1,4,5,2,6; row 6 is their minimum: weight 1e-6
    counts = {k: picks.count(k) / len(picks) for k in (1.0, 4.0, 5.0, 2.0)}
    w = np.array([0.6, 0.4, 0.3, 0.2]) / 1.5  # fitness - 0.3
    assert np.allclose([counts[1.0], counts[4.0], counts[5.0], counts[2.0]], w, atol=0.03)
    mean = select_parent(values, fitness, rng, Mutation(selection="weighted"))
    assert mean[0] == pytest.approx((4.1 + (1 + 4 + 5 + 2 + 6) * 1e-6) / (1.5 + 5e-6))
    with pytest.raises(ValueError):
        select_parent(values, fitness, rng, Mutation(selection="best"))


def test_evolvable_keys():
    assert evolvable_keys(BASE, META) == ["lr0", "momentum", "scale"]  # iou_t/fliplr gain 0, anchors None
    assert evolvable_keys(BASE, META, ["lr0", "iou_t"]) == ["lr0", "iou_t"]
    for bad in (["anchors"], ["nope"], ["iou_t"]):
        with pytest.raises(ValueError):
            evolvable_keys(BASE, META, bad)


def test_table_propose_resume_and_hyp_file(tmp_path):
    keys = ["lr0", "momentum"]
    path = tmp_path / "evolve.csv"
    table = EvolveTable.load(path, keys)
    first = propose(BASE, table, META, 0, 0, seed=1)
    assert first == {"lr0": 0.01, "momentum": 0.937}  # generation 0 trains the base
    other = propose(BASE, table, META, 0, 1, seed=1)
    assert other != first and other == propose(BASE, table, META, 0, 1, seed=1)  # seeded, not clock-based
    table.append(path, {"generation": 0, "job": 0, "fitness": 0.5, "metrics/mAP_0.5": 0.6, **first})
    table.append(path, {"generation": 0, "job": 1, "fitness": 0.7, **other})
    resumed = EvolveTable.load(path, keys)
    assert resumed.next_generation == 1 and resumed.rows[1]["lr0"] == other["lr0"]
    assert resumed.rows[0]["metrics/mAP_0.5"] == 0.6 and np.isnan(resumed.rows[1]["val/box_loss"])
    assert propose(BASE, resumed, META, 1, 0, seed=1) == propose(BASE, table, META, 1, 0, seed=1)
    assert path.read_text().splitlines()[0].split(",")[0] == " " * 10 + "generation"
    with pytest.raises(ValueError, match="differ from the keys"):
        EvolveTable.load(path, ["lr0"])

    hyp = write_hyp_evolve(tmp_path / "hyp" / "hyp_evolve.yaml", BASE, resumed, "scratch-low")
    text = (tmp_path / "hyp" / "hyp_evolve.yaml").read_text()
    assert text.startswith("# Hyperparameter evolution") and "Best generation: 0 (job 1)" in text
    assert f"python train.py 'hydra.searchpath=[file://{tmp_path.resolve()}]' experiment=hyp_evolve" in text
    loaded = yaml.safe_load(text)
    assert loaded["defaults"] == ["scratch-low", "_self_"] and loaded["lr0"] == other["lr0"] == hyp["lr0"]
    assert loaded["scale"] == 0.5 and loaded["anchors"] is None
    assert write_hyp_evolve(tmp_path / "x.yaml", BASE, EvolveTable(keys), None) is None


def test_hyp_evolve_wins_over_a_data_recipe(tmp_path):
    """data=shapes brings a recipe with lr0 and warmup_epochs: the evolved values must be the ones trained."""
    from hydra import compose, initialize_config_dir

    from yolo_exp.config.store import register_configs

    table = EvolveTable(["lr0", "warmup_epochs"])
    table.rows.append({"generation": 0, "job": 0, "fitness": 0.5, **{c: 0.0 for c in RESULT_COLUMNS},
                       "lr0": 0.0123, "warmup_epochs": 2.5})
    write_hyp_evolve(tmp_path / "hyp" / "hyp_evolve.yaml", {**BASE, "warmup_epochs": 3.0}, table, "scratch-low")
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="t"):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "data=shapes",
                                           "experiment=hyp_evolve"])
    assert cfg.hyp.lr0 == 0.0123 and cfg.hyp.warmup_epochs == 2.5 and cfg.epochs == 30  # the recipe's other keys
    assert cfg.hyp.scale == BASE["scale"]
