"""MLflow tracking as a run callback (``logger=[tensorboard,mlflow]``; needs the ``mlflow`` extra).

Each run is an MLflow run: params = the flattened resolved config, metrics = results.csv's columns per epoch
(same names, step = epoch) plus fitness, tags = group choices, run folder, sweep and status, artifacts = the run's
record (results.csv, summary.json, config, plots; best.pt with ``log_weights``). The jobs of a sweep are children
of one parent run in one experiment named after the sweep folder. A resumed run continues its MLflow run; a run
that starts over in its folder (killed before its first checkpoint) marks the earlier attempt's run FAILED.

The tracker never fails the training: the first error (server unreachable, disk full, a bad URI) is logged once
as a warning, tracking stops for that run, and the run folder stays complete. Requests are not retried and time
out after ``timeout_s``, so a dead server costs seconds, not the run.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

LOG = logging.getLogger("yolo_exp.train")
RUN_ID_FILE = ".mlflow_run_id"  # in the run folder: a resume continues the same MLflow run
PARENT_ID_FILE = ".mlflow_parent_run_id"  # in the sweep folder
ARTIFACTS = ("results.csv", "summary.json", "config_resolved.yaml", "results.png", "PR_curve.png", "F1_curve.png",
             "P_curve.png", "R_curve.png", "confusion_matrix.png", "labels.jpg", "train_batch0.jpg",
             "val_batch0_pred.jpg")
STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{'hyp': {'lr0': 0.01}} -> {'hyp.lr0': 0.01}; lists stay values (the model's layer lists, say)."""
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, sub in tree.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def default_uri(cwd: Path | None = None) -> str:
    """A local store beside outputs/ that works offline: ./mlruns/mlflow.db (artifacts in ./mlruns/artifacts)."""
    root = (cwd or Path.cwd()) / "mlruns"
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """For a sqlite store: one process at a time creates (migrates) it and the experiment; other stores as they are."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class MLflowLogger:
    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None, log_weights: bool = False,
                 timeout_s: float = 10.0) -> None:
        self.tracking_uri, self.experiment, self.log_weights = tracking_uri, experiment, log_weights
        self.timeout_s = timeout_s
        self.client: Any = None
        self.run_id: str | None = None
        self.run_dir: Path | None = None

    def _off(self, where: str, exc: BaseException) -> None:
        LOG.warning("MLflow tracking off for this run (%s: %s: %s); training goes on, the run folder is complete",
                    where, type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
        self.client = None

    def on_run_start(self, run: Any) -> None:
        try:
            self._start(run)
        except Exception as exc:  # noqa: BLE001 - a tracker never fails the training
            self._off("start", exc)

    def _start(self, run: Any) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(1, self.timeout_s))))
        from mlflow.tracking import MlflowClient

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
        self.run_dir = Path(run.run_dir)
        name = self.experiment or (run.sweep_dir.name if run.sweep_dir else str(run.config.get("name", "train")))
        with store_lock(uri):  # parallel jobs on a fresh sqlite store would each migrate its schema
            self.client = MlflowClient(tracking_uri=uri)
            experiment_id = self._experiment(name, uri)
        id_file = self.run_dir / RUN_ID_FILE
        if run.resumed and id_file.is_file():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        if id_file.is_file():  # an earlier attempt, killed before its first checkpoint: this one starts over
            self._close_abandoned(id_file.read_text().strip())
        tags = {f"choice.{k}": str(v) for k, v in run.choices.items() if v is not None}  # no "None" tags
        tags.update({"yolo_exp.run_dir": str(self.run_dir.resolve()), "yolo_exp.status": "running"})
        if run.sweep_dir is not None:
            tags["yolo_exp.sweep_dir"] = str(Path(run.sweep_dir).resolve())
            tags["mlflow.parentRunId"] = self._parent(experiment_id, Path(run.sweep_dir))
        created = self.client.create_run(experiment_id, run_name=self.run_dir.name, tags=tags)
        self.run_id = created.info.run_id
        from yolo_exp.files.atomic import atomic_write_text

        atomic_write_text(id_file, self.run_id)
        self._log_params(flatten(run.config))

    def _close_abandoned(self, run_id: str) -> None:
        """The earlier attempt's MLflow run would stay RUNNING forever (its process was killed): mark it FAILED."""
        try:
            if self.client.get_run(run_id).info.status != "RUNNING":
                return
            self.client.set_tag(run_id, "yolo_exp.status", "restarted")
            self.client.set_terminated(run_id, status="FAILED")
        except Exception as exc:  # noqa: BLE001 - e.g. a run of another store or one deleted since
            LOG.info("MLflow: earlier run %s of this folder not closed (%s)", run_id, type(exc).__name__)
            return
        LOG.info("MLflow: run %s of the earlier attempt in this folder marked FAILED (restarted)", run_id)

    def _experiment(self, name: str, uri: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if uri.startswith("sqlite:///"):  # artifacts beside the database, not in the current folder
            location = (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except Exception:  # noqa: BLE001 - another job of the sweep created it first
            return self.client.get_experiment_by_name(name).experiment_id

    def _parent(self, experiment_id: str, sweep_dir: Path) -> str:
        """One parent run per sweep, made by the first job (under a lock: parallel jobs start together)."""
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with open(sweep_dir / ".mlflow.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            id_file = sweep_dir / PARENT_ID_FILE
            if id_file.is_file():
                return id_file.read_text().strip()
            parent = self.client.create_run(experiment_id, run_name=sweep_dir.name,
                                            tags={"yolo_exp.sweep_dir": str(sweep_dir.resolve())})
            self.client.set_terminated(parent.info.run_id, status="FINISHED")  # a folder of runs, not a process
            id_file.write_text(parent.info.run_id)
            return parent.info.run_id

    def _log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def on_epoch_end(self, event: Any) -> None:
        if self.client is None:
            return
        try:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            # MLflow refuses parentheses in names: a segmentation run's metrics/mAP_0.5(B) is metrics/mAP_0.5_B
            values = {k.replace("(", "_").replace(")", ""): v for k, v in event.row.items() if k != "epoch"}
            if "fitness" in event.metrics:
                values["fitness"] = event.metrics["fitness"]
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, int(event.epoch))
                                                        for k, v in values.items()])
        except Exception as exc:  # noqa: BLE001
            self._off("epoch end", exc)

    def on_run_end(self, end: Any) -> None:
        if self.client is None:
            return
        try:
            self.client.set_tag(self.run_id, "yolo_exp.status", end.status)
            run_dir = Path(end.run_dir)
            for name in ARTIFACTS:
                if (run_dir / name).is_file():
                    self.client.log_artifact(self.run_id, str(run_dir / name))
            if self.log_weights and (run_dir / "weights" / "best.pt").is_file():
                self.client.log_artifact(self.run_id, str(run_dir / "weights" / "best.pt"), artifact_path="weights")
            self.client.set_terminated(self.run_id, status=STATUS.get(end.status, "FINISHED"))
        except Exception as exc:  # noqa: BLE001
            self._off("end", exc)
