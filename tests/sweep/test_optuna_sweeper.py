"""`hydra/sweeper=optuna` end to end with the fake app (fast): pruning, a killed sweep resumed, two sweep processes
on one sqlite study, the study's files. The trainer's own pruning path is in test_optuna_train.py."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from tests.sweep.runfolders import FAKE_APP, ROOT, run_fake_app, write_fake_conf

# Dead sweep processes on this host are seen by pid; heartbeats (for other hosts) stay off so that a loaded test
# machine cannot make a live trial look stale.
OPTUNA = ("-m", "hydra/sweeper=optuna", "hydra.sweeper.seed=0", "hydra.sweeper.heartbeat_s=null")


def study_of(sweep):
    return optuna.load_study(study_name=sweep.name, storage=f"sqlite:///{sweep / 'optuna.db'}")


@pytest.mark.slow  # the default suite's time (CI budget)
def test_study_with_median_pruner_prunes_and_writes_its_files(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    # x=1000 scores 0 at every epoch, x=1 about 0.8: once a good trial finished, a bad one falls below the median
    proc = run_fake_app(conf, *OPTUNA, "hydra.sweeper.n_trials=5", "hydra.sweeper.pruner=median",
                        "hydra.sweeper.pruner_args={n_startup_trials:1,n_warmup_steps:0}", "epochs=4",
                        "x=choice(1,1000)", "hyp.momentum=interval(0.5,0.99)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = study_of(sweep).trials
    assert len(trials) == 5 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    hopeless = [t for t in trials[1:] if t.params["x"] == 1000]  # after the startup trial: below any median
    assert hopeless and all(t in pruned for t in hopeless)
    for t in trials:  # trial N trained in folder N with its values; the job's status says how it ended
        summary = json.loads((sweep / str(t.number) / "summary.json").read_text())
        assert summary["status"] == ("pruned" if t in pruned else "completed")
        assert f"x={t.params['x']}" in summary["overrides"]
    p = pruned[0]
    assert p.last_step < 3 and json.loads((sweep / str(p.number) / "summary.json").read_text())["stopped"]
    rows = {r["job"]: r for r in csv.DictReader(open(sweep / "summary.csv"))}
    assert rows[str(p.number)]["status"] == "pruned" and "trial.number" not in next(iter(rows.values()))
    for name in ("optuna_history.png", "optuna_importance.png", "best_params.yaml", "experiment/best_params.yaml"):
        assert (sweep / name).is_file(), name
    best = study_of(sweep).best_trial
    shown = run_fake_app(conf, f"hydra.searchpath=[file://{sweep}]", "+experiment=best_params", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    assert f"momentum: {best.params['hyp.momentum']}" in shown.stdout and f"x: {best.params['x']}" in shown.stdout
    trained = yaml.safe_load((sweep / str(best.number) / ".hydra" / "config.yaml").read_text())
    assert {**yaml.safe_load(shown.stdout), "trial": None} == {**trained, "trial": None}  # epochs=4 included


def sweep_process(conf, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(FAKE_APP), "--config-path", str(conf), *OPTUNA, *args],
                            env=env, cwd=conf.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=120):
    t0 = time.time()
    while not condition():
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_killed_sweep_resumes_its_study_without_duplicates(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    args = ("hydra.sweeper.n_trials=4", "epochs=3", "sleep_s=0.3", "hyp.lr0=interval(0.001,0.05)")
    proc = sweep_process(conf, *args)
    running = sweep / "1" / "summary.json"
    wait_for(lambda: running.is_file() and json.loads(running.read_text())["status"] == "running")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [t.state for t in study_of(sweep).trials] == [TrialState.COMPLETE, TrialState.RUNNING]

    again = run_fake_app(conf, *OPTUNA, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = study_of(sweep).trials
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4 and [t.state for t in trials].count(TrialState.FAIL) == 1
    folders = sorted(t.user_attrs["folder"] for t in done)  # trial N's folder is N, the retry's its original's
    assert folders == [0, 1, 3, 4]
    retry = next(t for t in done if t.user_attrs.get("retry_of") == 1)
    assert retry.number == 2 and retry.params == trials[1].params  # asked again with the same values, folder 1
    assert sorted(int(p.name) for p in sweep.iterdir() if p.name.isdigit()) == folders
    # the rerun continued the search: no finished or running trial's values again (that it follows the
    # uninterrupted study's sequence: tests/sweep/test_search_space.py)
    assert len({t.params["hyp.lr0"] for t in done}) == 4


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_two_sweep_processes_share_one_study(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    args = ("hydra.sweeper.n_trials=6", "epochs=2", "sleep_s=0.2", "hyp.lr0=interval(0.001,0.05)")
    a, b = sweep_process(conf, *args), sweep_process(conf, *args)
    for proc in (a, b):
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
    trials = study_of(sweep).trials
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 6 and all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    assert sorted(t.user_attrs["folder"] for t in done) == list(range(6))  # no trial ran twice
    owners = {t.user_attrs["owner"]["pid"] for t in done}
    assert owners == {a.pid, b.pid}  # both worked on it


def test_bad_search_settings_fail_before_any_trial(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    proc = run_fake_app(conf, *OPTUNA, "hydra.sweeper.pruner=medain", "hyp.lr0=interval(0.001,0.05)")
    assert proc.returncode != 0 and "pruner='medain': expected one of none, median, halving, hyperband" in proc.stderr
    proc = run_fake_app(conf, *OPTUNA, "epochs=2")
    assert proc.returncode != 0 and "nothing to search" in proc.stderr
    assert not (sweep / "0").exists()


@pytest.mark.parametrize("objectives", ["[fitness,wall_time_s]"])
def test_several_objectives(tmp_path, objectives):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    proc = run_fake_app(conf, *OPTUNA, "hydra.sweeper.n_trials=3", f"hydra.sweeper.objectives={objectives}",
                        "epochs=2", "hyp.lr0=interval(0.001,0.05)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = study_of(sweep)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert all(len(t.values) == 2 for t in study.trials) and (sweep / "best_params.yaml").is_file()


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_successive_halving_by_extension(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    proc = run_fake_app(conf, *OPTUNA, "hydra.sweeper.n_trials=4", "hydra.sweeper.schedule=extend",
                        "hydra.sweeper.rungs=[1,3]", "hydra.sweeper.reduction_factor=2", "hyp.lr0=interval(0.001,0.05)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = study_of(sweep).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(complete) == 2 and len(pruned) == 2
    assert min(t.user_attrs["value0"] for t in complete) >= max(t.user_attrs["value0"] for t in pruned)
    for t in complete:  # extended in place: the same folder, now 3 epochs, resumed from its 1-epoch run
        overrides = (sweep / str(t.number) / ".hydra" / "overrides.yaml").read_text()
        assert "epochs=3" in overrides and f"resume={(sweep / str(t.number)).resolve()}" in overrides.replace("'", "")
        assert json.loads((sweep / str(t.number) / "summary.json").read_text())["status"] == "completed"
    for t in pruned:
        summary = json.loads((sweep / str(t.number) / "summary.json").read_text())
        assert summary["status"] == "pruned" and summary["epochs_done"] == 1
        assert "not promoted after rung 0" in summary["stopped"]["reason"]
    proc = run_fake_app(conf, *OPTUNA, "hydra.sweeper.n_trials=4", "hydra.sweeper.schedule=extend",
                        "hydra.sweeper.rungs=[1,3]", "hydra.sweeper.reduction_factor=2", "hyp.lr0=interval(0.001,0.05)")
    assert proc.returncode == 0 and len(study_of(sweep).trials) == 4  # a rerun of a finished study adds nothing


def test_a_corrupt_study_db_is_one_line_naming_the_option(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "optuna.db").write_bytes(b"not a database\n" * 100)
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *OPTUNA, "hyp.lr0=interval(0.001,0.05)",
                           f"hydra.sweep.dir={sweep}"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert proc.stderr == (f"error: hydra.sweeper.storage=sqlite:///{sweep.resolve() / 'optuna.db'} (the default): "
                           "cannot open the study: file is not a database\n")
    assert not (sweep / "0").exists()


@pytest.mark.parametrize("case", ["under_a_file", "scheme", "no_url"])
def test_storage_problems_name_their_cause(tmp_path, case):
    from yolo_exp.sweep.study import open_storage, storage_error

    (tmp_path / "afile").write_text("x")
    url = {"under_a_file": f"sqlite:///{tmp_path}/afile/optuna.db", "scheme": "foo://host/db",
           "no_url": "optuna.db"}[case]
    with pytest.raises(Exception) as raised:
        optuna.create_study(storage=open_storage(url, None), study_name="s")
    assert storage_error(url, raised.value) == {
        "under_a_file": f"{tmp_path / 'afile'} is a file, not a folder",
        "scheme": "unknown URL scheme 'foo' (sqlite:///PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB)",
        "no_url": "not a database URL (sqlite:///PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB)"}[case]


def test_a_sweeper_setting_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *OPTUNA, "hyp.lr0=interval(0.001,0.05)",
                           "hydra.sweeper.schedule=bad", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr == "error: hydra.sweeper.schedule='bad': expected trials or extend\n"
