"""MLflow tracking: a real run read back with MLflow's client; a sweep's jobs under one parent; a resumed run
continues its MLflow run; an unreachable server never fails the training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from tests.engine.test_trainer import TINY, only_run, train  # noqa: E402
from yolo_exp.engine.callbacks import EpochEnd, RunEnd, RunStart  # noqa: E402
from yolo_exp.report.mlflow_logger import MLflowLogger, default_uri, flatten  # noqa: E402


def test_flatten_keeps_lists_as_values():
    assert flatten({"hyp": {"lr0": 0.01}, "model": {"backbone": [[1, 2]]}, "epochs": 3}) == \
        {"hyp.lr0": 0.01, "model.backbone": [[1, 2]], "epochs": 3}


@pytest.mark.slow  # the default suite's time (CI budget)
def test_training_run_is_an_mlflow_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}"
    (tmp_path / "ml").mkdir()
    train(tmp_path, *TINY, "epochs=2", "logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri='{uri}'",
          "logger.mlflow.experiment=tiny")
    run_dir = only_run(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["yolo_exp.status"] == "completed"
    assert run.data.params["hyp.warmup_epochs"] == "0.5" and run.data.params["epochs"] == "2"
    assert run.data.tags["choice.model"] == "yolov5n" and run.data.tags["yolo_exp.run_dir"] == str(run_dir.resolve())
    assert "choice.debug" not in run.data.tags  # no group chosen: no "None" tag
    history = client.get_metric_history(run.info.run_id, "metrics/mAP_0.5:0.95")
    assert [m.step for m in history] == [0, 1]  # per epoch, results.csv's own name
    assert {"train/box_loss", "x/lr0", "fitness"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.csv", "summary.json", "config_resolved.yaml"} <= artifacts
    assert list(run_dir.glob("events.out.tfevents.*"))  # TensorBoard still writes beside it


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_unreachable_tracking_server_does_not_fail_the_training(tmp_path):
    train(tmp_path, *TINY, "epochs=1", "logger=[tensorboard,mlflow]",
          "logger.mlflow.tracking_uri='http://127.0.0.1:9'", "logger.mlflow.timeout_s=2")
    run_dir = only_run(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert (run_dir / "weights" / "best.pt").is_file()
    log = (run_dir / "train.log").read_text()
    assert log.count("MLflow tracking off for this run") == 1


def start(run_dir: Path, sweep_dir: Path | None = None, resumed: bool = False) -> RunStart:
    run_dir.mkdir(parents=True, exist_ok=True)
    return RunStart(run_dir, {"name": "train", "hyp": {"lr0": 0.01}}, {"model": "yolov5n"}, [], resumed, sweep_dir)


def finish(logger: MLflowLogger, run_dir: Path, status: str = "completed") -> None:
    logger.on_epoch_end(EpochEnd(0, 1, {"epoch": 0.0, "metrics/mAP_0.5": 0.5}, {"fitness": 0.4}, 0))
    logger.on_run_end(RunEnd(run_dir, status))


def test_sweep_jobs_are_children_of_one_parent_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = tmp_path / "multirun" / "12-00-00_train"
    ids = []
    for job in ("0", "1"):
        logger = MLflowLogger(tracking_uri=uri)
        logger.on_run_start(start(sweep / job, sweep_dir=sweep))
        finish(logger, sweep / job, status="pruned" if job == "1" else "completed")
        ids.append(logger.run_id)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(sweep.name)  # one experiment per sweep
    runs = {r.info.run_id: r for r in client.search_runs([exp.experiment_id])}
    parent = (sweep / ".mlflow_parent_run_id").read_text()
    assert set(runs) == {parent, *ids}
    assert all(runs[i].data.tags["mlflow.parentRunId"] == parent for i in ids)
    assert runs[ids[1]].data.tags["yolo_exp.status"] == "pruned"


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = MLflowLogger(tracking_uri=uri, experiment="e")
    first.on_run_start(start(tmp_path / "run"))
    first.on_run_end(RunEnd(tmp_path / "run", "interrupted"))
    again = MLflowLogger(tracking_uri=uri, experiment="e")
    again.on_run_start(start(tmp_path / "run", resumed=True))
    finish(again, tmp_path / "run")
    assert again.run_id == first.run_id
    assert MlflowClient(tracking_uri=uri).get_run(first.run_id).info.status == "FINISHED"


def test_a_run_started_over_in_its_folder_closes_the_killed_attempts_run(tmp_path):
    """Killed before its first checkpoint, a run starts over on rerun; its first MLflow run stayed RUNNING forever."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed = MLflowLogger(tracking_uri=uri, experiment="e")
    killed.on_run_start(start(tmp_path / "run"))  # ... and no on_run_end: SIGKILL
    again = MLflowLogger(tracking_uri=uri, experiment="e")
    again.on_run_start(start(tmp_path / "run"))  # not resumed: no last.pt to resume from
    finish(again, tmp_path / "run")
    client = MlflowClient(tracking_uri=uri)
    old = client.get_run(killed.run_id)
    assert again.run_id != killed.run_id and old.info.status == "FAILED"
    assert old.data.tags["yolo_exp.status"] == "restarted" and old.info.end_time is not None
    assert client.get_run(again.run_id).info.status == "FINISHED"
    third = MLflowLogger(tracking_uri=uri, experiment="e")  # a finished run is left as it is
    third.on_run_start(start(tmp_path / "run"))
    assert client.get_run(again.run_id).info.status == "FINISHED"


def test_default_store_is_beside_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_uri() == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def test_parallel_jobs_on_a_fresh_sqlite_store_both_track(tmp_path):
    """Jobs of a parallel sweep start together; the first use of a sqlite store migrates its schema."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    code = ("import sys; from pathlib import Path; from yolo_exp.report.mlflow_logger import MLflowLogger; "
            "from yolo_exp.engine.callbacks import RunStart; d = Path(sys.argv[1]); d.mkdir(parents=True); "
            f"lg = MLflowLogger(tracking_uri={uri!r}, experiment='e'); "
            "lg.on_run_start(RunStart(d, {'name': 'x'}, {}, [])); assert lg.client is not None, 'tracking off'")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"run{i}")], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()[-2000:]
    assert len(MlflowClient(tracking_uri=uri).search_runs([MlflowClient(tracking_uri=uri)
                                                           .get_experiment_by_name("e").experiment_id])) == 3


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_a_segmentation_run_logs_its_box_and_mask_metrics(tmp_path):
    """MLflow refuses parentheses in names: YOLOv5-seg's metrics/mAP_0.5(M) goes in as metrics/mAP_0.5_M."""
    uri = f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}"
    (tmp_path / "ml").mkdir()
    train(tmp_path, *TINY, "model=yolov5n-seg", "epochs=1", "logger=[mlflow]", f"logger.mlflow.tracking_uri='{uri}'",
          "logger.mlflow.experiment=seg")
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("seg").experiment_id])
    assert {"metrics/mAP_0.5:0.95_B", "metrics/mAP_0.5:0.95_M", "train/seg_loss", "fitness"} <= set(run.data.metrics)
    assert run.data.tags["yolo_exp.status"] == "completed"
