"""Hydra sweep syntax -> Optuna distributions; values back as override text; samplers and pruners by name."""
from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from yolo_exp.sweep.search_space import (build_pruner, build_sampler, grid_of, override_value, parse_space,
                                         suggest)


def test_each_sweep_kind_maps_to_its_distribution_and_the_rest_stays_fixed():
    space, fixed = parse_space(["hyp.lr0=tag(log,interval(1e-4,1e-1))", "imgsz=range(320,641,64)",
                                "model=yolov5n,yolov5s", "batch_size=tag(int,interval(8,64))", "epochs=3",
                                "optimizer=choice(sgd,adamw)", "+hyp.x=range(0.1,0.5,0.1)"])
    assert fixed == ["epochs=3"]
    assert space["hyp.lr0"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert space["imgsz"] == IntDistribution(320, 640, step=64)  # range excludes its stop
    assert space["model"] == CategoricalDistribution(("yolov5n", "yolov5s"))
    assert space["batch_size"] == IntDistribution(8, 64)
    assert space["optimizer"] == CategoricalDistribution(("sgd", "adamw"))
    assert space["hyp.x"].low == pytest.approx(0.1) and space["hyp.x"].high == pytest.approx(0.4)


def test_unknown_tag_is_refused_by_name():
    with pytest.raises(ValueError, match="hyp.lr0: unknown tag lg"):
        parse_space(["hyp.lr0=tag(lg,interval(1e-4,1e-1))"])


def test_suggested_values_lie_in_the_space_and_are_reproducible_by_seed():
    space, _ = parse_space(["hyp.lr0=tag(log,interval(1e-4,1e-1))", "imgsz=range(320,641,64)", "model=a,b"])

    def draws(seed):
        study = optuna.create_study(sampler=build_sampler("tpe", seed, space), direction="maximize")
        return [suggest(study.ask(), space) for _ in range(3)]

    first = draws(3)
    assert first == draws(3) and first != draws(4)
    for v in first:
        assert 1e-4 <= v["hyp.lr0"] <= 1e-1 and v["imgsz"] in range(320, 641, 64) and v["model"] in ("a", "b")


def test_enqueued_trial_gets_its_fixed_values_back():
    space, _ = parse_space(["hyp.lr0=interval(0.001,0.1)", "model=a,b"])
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"hyp.lr0": 0.05, "model": "b"})
    assert suggest(study.ask(), space) == {"hyp.lr0": 0.05, "model": "b"}


def test_override_text_reads_back_as_the_same_value():
    assert [override_value(v) for v in (3, 0.1, True, None, "yolov5s")] == ["3", "0.1", "true", "null", "yolov5s"]
    assert override_value("a b,c") == "'a b,c'" and override_value("null") == "'null'"


def test_grid_needs_discrete_keys():
    space, _ = parse_space(["imgsz=range(320,449,64)", "model=a,b"])
    assert grid_of(space) == {"imgsz": [320, 384, 448], "model": ["a", "b"]}
    with pytest.raises(ValueError, match="hyp.lr0 is a continuous interval"):
        grid_of(parse_space(["hyp.lr0=interval(0.001,0.1)"])[0])


def test_samplers_and_pruners_by_name_with_clear_errors():
    space, _ = parse_space(["model=a,b"])
    assert isinstance(build_sampler("random", 0, space), optuna.samplers.RandomSampler)
    assert isinstance(build_sampler("grid", 0, space), optuna.samplers.GridSampler)
    assert isinstance(build_pruner("median", {"n_warmup_steps": 2}), optuna.pruners.MedianPruner)
    assert isinstance(build_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match="sampler='bayes': expected one of tpe, random, cmaes, grid"):
        build_sampler("bayes", 0, space)
    with pytest.raises(ValueError, match="pruner_args for median"):
        build_pruner("median", {"n_warmup": 2})
