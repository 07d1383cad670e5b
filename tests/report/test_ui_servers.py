"""The browsers the README points at start on what our runs write and serve it: `mlflow ui` on the run store
(needs the full `mlflow` package, extra `ui`: mlflow-skinny has no UI) and `optuna-dashboard` on a study's
optuna.db, each run as the README writes it (plus a free port) and asked through its REST API. Skipped where
the packages are not installed (the dev extra leaves them out: they are large)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

from tests.readme import readme_commands


def installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def executable(name: str) -> str:
    """The command beside this interpreter (a virtual environment's), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: dict | None = None, timeout_s: float = 90) -> bytes:
    """The body at ``url`` (a JSON POST with ``data``), retried until the server answers."""
    deadline = time.time() + timeout_s
    while True:
        try:
            body = None if data is None else json.dumps(data).encode()
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def serve(command: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)  # the server and its workers (its own session, started here)
    proc.wait(30)


@pytest.mark.skipif(not installed("mlflow"), reason="the MLflow UI needs the full mlflow package: pip install '.[ui]'")
def test_mlflow_ui_serves_the_run_store_as_the_readme_says(tmp_path, monkeypatch):
    from tests.report.test_mlflow_logger import finish, start
    from yolo_exp.report.mlflow_logger import MLflowLogger, default_uri

    monkeypatch.chdir(tmp_path)  # the default store, ./mlruns/mlflow.db beside outputs/
    logger = MLflowLogger(tracking_uri=default_uri(), experiment="readme")
    logger.on_run_start(start(tmp_path / "outputs" / "run"))
    finish(logger, tmp_path / "outputs" / "run")
    command = next(c for c in readme_commands("mlflow ui"))
    port = free_port()
    proc = serve([executable("mlflow"), *command[1:], "--port", str(port)], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        found = json.loads(get(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=readme"))
        runs = json.loads(get(f"{base}/api/2.0/mlflow/runs/search",
                              {"experiment_ids": [found["experiment"]["experiment_id"]]}))["runs"]
        assert [r["info"]["run_id"] for r in runs] == [logger.run_id]
        tags = {t["key"]: t["value"] for t in runs[0]["data"]["tags"]}
        assert tags["yolo_exp.status"] == "completed"
        assert b"<html" in get(base + "/").lower()  # the UI itself, which mlflow-skinny lacks
    finally:
        stop(proc)


@pytest.mark.skipif(not installed("optuna-dashboard"), reason="pip install '.[ui]' (or '.[dashboard]')")
def test_optuna_dashboard_serves_a_study_as_the_readme_says(tmp_path):
    import optuna

    sweep = tmp_path / "SWEEP_DIR"
    sweep.mkdir()
    study = optuna.create_study(study_name="SWEEP_DIR", storage=f"sqlite:///{sweep / 'optuna.db'}",
                                direction="maximize")
    study.optimize(lambda t: -(t.suggest_float("hyp.lr0", 1e-4, 1e-1, log=True) - 0.01) ** 2, n_trials=3)
    command = next(c for c in readme_commands("optuna-dashboard"))
    assert command[1] == "sqlite:///SWEEP_DIR/optuna.db"  # relative to the folder it is run from
    port = free_port()
    proc = serve([executable("optuna-dashboard"), *command[1:], "--port", str(port)], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        studies = json.loads(get(f"{base}/api/studies"))["study_summaries"]
        assert [s["study_name"] for s in studies] == ["SWEEP_DIR"]
        detail = json.loads(get(f"{base}/api/studies/{studies[0]['study_id']}?after=0"))
        assert len(detail["trials"]) == 3
        assert b"<html" in get(f"{base}/dashboard").lower()
    finally:
        stop(proc)
