"""Hydra sweep syntax -> Optuna distributions; values back as override text; samplers and pruners by name."""
from __future__ import annotations

import socket
import subprocess
import sys
import warnings

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


def _asked(study, space, seed, sampler):
    from yolo_exp.sweep.search_space import trial_sampler
    from yolo_exp.sweep.study import position

    study.sampler = trial_sampler(sampler, seed, space, position(study))  # what the sweeper does for each ask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
        return study.ask()


def _objective(params):
    return -sum((v - 0.3) ** 2 for v in params.values())


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_a_killed_and_rerun_study_asks_what_an_uninterrupted_one_asks(sampler):
    from yolo_exp.sweep.study import reclaim_dead

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = {"a": FloatDistribution(0, 1), "b": FloatDistribution(0, 1)}
    n, killed_at = 14, 11  # past TPE's 10 random startup trials

    def study():
        return optuna.create_study(direction="maximize", sampler=build_sampler(sampler, 0, space))

    ref = study()
    for _ in range(n):
        trial = _asked(ref, space, 0, sampler)
        ref.tell(trial, _objective(suggest(trial, space)))

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    rerun = study()
    while sum(t.state.name == "COMPLETE" for t in rerun.trials) < n:
        trial = _asked(rerun, space, 0, sampler)
        values = suggest(trial, space)
        if trial.number == killed_at:  # its sweep process dies while it trains
            trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": int(dead.stdout)})
            assert reclaim_dead(rerun, heartbeat=False) == [killed_at]  # the rerun asks it again
            continue
        rerun.tell(trial, _objective(values))
    asked = [t.params for t in rerun.trials if t.state.name == "COMPLETE"]
    assert len({tuple(p.values()) for p in asked}) == n  # nothing asked twice
    if sampler != "cmaes":  # CMA-ES's generations count the retried copy as a trial of its own: it goes on, but
        assert asked == [t.params for t in ref.trials]  # not along the uninterrupted path
