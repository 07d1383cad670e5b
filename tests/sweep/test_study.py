"""The sweeper's bookkeeping on a real Optuna study: budget, dead owners, objectives, best_params.yaml, plots."""
from __future__ import annotations

import optuna
import yaml
from optuna.trial import TrialState

from tests.conftest import ROOT
from tests.sweep.runfolders import dead_pid
from yolo_exp.sweep.study import (claim, consecutive_groups, default_storage, live_numbers, objective_values,
                                  open_storage, plot_study, reclaim_dead, within_budget, write_best_params)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sqlite_study(tmp_path, name="s", **kwargs):
    return optuna.create_study(storage=open_storage(default_storage(tmp_path), None), study_name=name,
                               load_if_exists=True, **kwargs)


def test_consecutive_folders_make_one_batch_each():
    assert consecutive_groups([(3, "c"), (1, "a"), (2, "b"), (7, "x")]) == [[(1, "a"), (2, "b"), (3, "c")],
                                                                             [(7, "x")]]


def test_surplus_trial_of_a_late_asker_is_outside_the_budget(tmp_path):
    study = sqlite_study(tmp_path, direction="maximize")
    trials = [study.ask() for _ in range(3)]
    study.tell(trials[0], 1.0)
    assert live_numbers(study) == [0, 1, 2]
    assert within_budget(study, 1, 2) and not within_budget(study, 2, 2)
    study.tell(trials[2], state=TrialState.FAIL)
    assert live_numbers(study) == [0, 1]


def test_trial_of_a_dead_process_is_failed_and_asked_again_in_its_folder(tmp_path):
    study = sqlite_study(tmp_path, direction="maximize")
    trial = study.ask()
    trial.suggest_float("hyp.lr0", 1e-4, 1e-1, log=True)
    assert claim(trial) == 0
    trial.set_user_attr("owner", {"host": __import__("socket").gethostname(), "pid": dead_pid()})
    alive = study.ask()
    claim(alive)  # this process: alive, left alone
    assert reclaim_dead(study, heartbeat=False) == [0]
    assert study.trials[0].state == TrialState.FAIL and study.trials[1].state == TrialState.RUNNING
    retry = study.ask()
    assert retry.number == 2 and retry.suggest_float("hyp.lr0", 1e-4, 1e-1, log=True) == trial.params["hyp.lr0"]
    assert claim(retry) == 0 and retry.user_attrs["retry_of"] == 0  # the killed run's folder: it resumes there
    assert reclaim_dead(study, heartbeat=False) == []


def test_objectives_come_from_the_summary():
    info = {"best": {"fitness": 0.5, "map50": 0.7}, "provenance": {"model": {"params": 1234}},
            "wall_time_s": 9.5}
    assert objective_values(info, ["fitness", "map50", "params", "wall_time_s"]) == [0.5, 0.7, 1234.0, 9.5]
    assert objective_values({"best": {"fitness": None}}, ["fitness"]) is None


def test_best_params_load_as_an_experiment_of_the_real_config(tmp_path):
    from hydra import compose, initialize_config_dir

    from yolo_exp.config.store import register_configs

    study = optuna.create_study(direction="maximize", study_name="s")
    for value in (0.2, 0.4, 0.3):
        t = study.ask()
        t.suggest_float("hyp.lr0", 1e-4, 1e-1)
        t.suggest_categorical("model", ["yolov5n", "yolov5s"])
        study.tell(t, value)
    best = study.best_trial
    fixed = ["epochs=7", "imgsz=96", "data=shapes", "data.shapes.n_train=16", "hyp.mosaic=0.25", "model=yolov5x",
             "trial.number=3"]  # the study's fixed overrides (the trial's values win over them)
    write_best_params(tmp_path, study, groups=["model", "hyp", "data"], objectives=["fitness"], fixed=fixed)
    flat = yaml.safe_load((tmp_path / "best_params.yaml").read_text())
    assert flat == best.params and "fitness=0.4" in (tmp_path / "best_params.yaml").read_text()
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf"), job_name="t"):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "experiment=best_params"])
        trained = compose("config", overrides=[*fixed[:-1], *(f"{k}={v}" for k, v in best.params.items())])
    assert cfg.hyp.lr0 == best.params["hyp.lr0"] and cfg.model.name == best.params["model"]
    assert cfg == trained  # on its own, the whole config of the best trial's run (recipe values included)


def test_history_and_importance_plots(tmp_path):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):
        t = study.ask()
        x, y = t.suggest_float("hyp.lr0", 0, 1), t.suggest_float("hyp.momentum", 0, 1)
        study.tell(t, x - 0.1 * y)
    written = plot_study(study, tmp_path, ["fitness"])
    assert [p.name for p in written] == ["optuna_history.png", "optuna_importance.png"]
    assert all(p.stat().st_size > 5_000 for p in written)
