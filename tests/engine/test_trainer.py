"""End-to-end training on a tiny generated dataset: the run folder, resume after SIGKILL, NaN guard, fitness."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from yolo_exp.engine.checkpoint import load_checkpoint
from yolo_exp.report.results import COLUMNS, read_results

TINY = ["data.shapes.n_train=16", "data.shapes.n_val=8", "data.shapes.img_size=96", "imgsz=64", "batch_size=8",
        "workers=0", "model=yolov5n", "hyp.warmup_epochs=0.5"]


def train(cwd: Path, *args: str, wait: bool = True, env_extra: dict | None = None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}  # 1 thread: faster on a loaded 2-core box
    cmd = [sys.executable, str(ROOT / "train.py"), *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def kill_once_recorded(proc: subprocess.Popen, cwd: Path, epochs: int) -> Path:
    """SIGKILL a training run as soon as results.csv holds ``epochs`` rows; its run folder."""
    deadline = time.time() + 240
    while time.time() < deadline:
        runs = list((cwd / "outputs").glob("*/*/results.csv"))
        if runs and len(read_results(runs[0])) >= epochs:
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return only_run(cwd)


def only_run(cwd: Path) -> Path:
    runs = list((cwd / "outputs").glob("*/*"))
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow  # the default suite's time (CI budget)
def test_run_folder_and_resume_after_sigkill_is_bitwise_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    args = [*TINY, "epochs=3", "keep_optimizer=true"]
    proc = train(a, *args)
    run_a = only_run(a)
    assert str(run_a.resolve()) in proc.stderr + proc.stdout  # the run says where its folder is
    log = (run_a / "train.log").read_text()
    assert [line.split("Epoch ")[1][:4] for line in log.splitlines() if "_loss" in line] == ["1/3:", "2/3:", "3/3:"]

    for rel in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "config_resolved.yaml",
                "train.log", "weights/last.pt", "weights/best.pt", "results.csv", "results.png", "summary.json",
                "labels.jpg", "train_batch0.jpg", "PR_curve.png", "confusion_matrix.png"):
        assert (run_a / rel).is_file(), rel
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_a), size_guidance={"images": 0}).Reload()
    assert {"train/box_loss", "metrics/mAP_0.5:0.95", "x/lr2"} <= set(events.Tags()["scalars"])
    assert {"train_batch0", "PR_curve"} <= set(events.Tags()["images"])
    rows = read_results(run_a / "results.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2] and set(rows[0]) == set(COLUMNS)
    summary = json.loads((run_a / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_done"] == 3
    assert summary["best"]["map50"] is not None and summary["best_epoch"] in (1, 2, 3)
    assert f"Best epoch {summary['best_epoch']}, " in log  # both count as "Epoch 1/3"; results.csv from 0
    prov = summary["provenance"]  # what compare uses to warn about runs on other data or code
    assert prov["device"] == "cpu" and len(prov["data"]["train"]) == len(prov["data"]["val"]) == 16
    assert prov["code"] is None or len(prov["code"]["commit"]) == 40
    assert not list(a.glob("*.pt")) and sorted(p.name for p in a.iterdir()) == ["outputs"]  # nothing in the cwd

    # Same run, killed with SIGKILL once epoch 1 is recorded, then resumed in place.
    run_b = kill_once_recorded(train(b, *args, wait=False), b, epochs=2)
    assert json.loads((run_b / "summary.json").read_text())["epochs_done"] < 3
    load_checkpoint(run_b / "weights" / "last.pt")  # loadable whatever moment the kill hit
    train(b, f"resume={run_b}")
    assert only_run(b) == run_b  # resumed in the same folder

    assert (run_a / "results.csv").read_text() == (run_b / "results.csv").read_text()
    ca, cb = load_checkpoint(run_a / "weights" / "last.pt"), load_checkpoint(run_b / "weights" / "last.pt")
    for key in ("model", "ema"):
        assert ca[key].keys() == cb[key].keys()
        for k in ca[key]:
            assert torch.equal(ca[key][k], cb[key][k]), (key, k)

    # A finished run can be extended; other overrides are refused on resume.
    bad = subprocess.run([sys.executable, str(ROOT / "train.py"), f"resume={run_b}", "hyp.lr0=0.1"], cwd=b,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "refused: hyp.lr0=0.1" in bad.stderr
    train(b, f"resume={run_b}", "epochs=4")
    assert [r["epoch"] for r in read_results(run_b / "results.csv")] == [0, 1, 2, 3]


@pytest.fixture
def trainer_factory(tmp_path):
    from yolo_exp.build import build_trainer
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.engine.trainer import Trainer

    def make(*overrides: str) -> Trainer:
        cfg = compose_checked([*TINY, "noplots=true", f"cache_dir={tmp_path / 'cache'}", *overrides])
        return build_trainer(cfg, tmp_path / "run")

    return make


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_state(trainer_factory):
    trainer = trainer_factory("epochs=8")  # 2 batches an epoch: 10 bad steps span epochs 1-5
    real_loss = trainer.compute_loss
    calls = {"n": 0}

    def poisoned(preds, targets):
        calls["n"] += 1
        loss, items = real_loss(preds, targets)
        return (loss * float("nan"), items) if calls["n"] > 2 else (loss, items)  # epoch 0 is clean

    trainer.compute_loss = poisoned
    with pytest.raises(FloatingPointError, match="NaN/Inf for 10 consecutive steps"):
        trainer.fit()
    ckpt = load_checkpoint(trainer.wdir / "last.pt")
    assert ckpt["epoch"] < 5
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("image_weights", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_next_epoch_loads_while_this_one_validates(trainer_factory, image_weights):
    """The loader has already drawn the next epoch's order (its sampler has run) when validation starts, except
    after the last epoch and with image weights, which are redrawn from that validation."""
    trainer = trainer_factory("epochs=3", "workers=1", f"image_weights={str(image_weights).lower()}")
    seen = []
    real = trainer.validate_epoch

    def validate_epoch(epoch, final_epoch):  # noqa: ANN001, ANN202
        seen.append(trainer.train_loader.sampler.epoch - epoch)  # 1: next epoch not started, 2: started
        return real(epoch, final_epoch)

    trainer.validate_epoch = validate_epoch
    trainer.fit()
    assert seen == ([1, 1, 1] if image_weights else [2, 2, 1])


def test_best_pt_follows_configured_fitness(trainer_factory):
    trainer = trainer_factory("epochs=3", "fitness.precision=0", "fitness.recall=1", "fitness.map50=0",
                              "fitness.map=0", "keep_optimizer=true", "noval=false")
    result = trainer.fit()
    rows = read_results(trainer.run_dir / "results.csv")
    recalls = [r["metrics/recall"] for r in rows]
    best = max(range(len(rows)), key=lambda i: (recalls[i], i))  # on a tie the later epoch wins, as in YOLOv5
    assert result.best_epoch == best
    assert load_checkpoint(trainer.wdir / "best.pt")["epoch"] == best


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_a_finished_stripped_run_can_be_extended(tmp_path):
    train(tmp_path, *TINY, "epochs=2")
    run = only_run(tmp_path)
    assert load_checkpoint(run / "weights" / "last.pt").get("stripped")
    proc = train(tmp_path, f"resume={run}", "epochs=3")
    assert "fresh optimizer state" in proc.stdout + proc.stderr
    assert [r["epoch"] for r in read_results(run / "results.csv")] == [0, 1, 2]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_gradient_accumulation_position_survives_resume(trainer_factory):
    """After warmup YOLOv5 steps every `accumulate` batches across epoch ends; resume must keep that phase."""
    trainer = trainer_factory("epochs=2", "keep_optimizer=true")
    trainer.fit()
    saved = load_checkpoint(trainer.wdir / "last.pt")["last_opt_step"]
    assert saved == trainer.last_opt_step >= 0
    resumed = trainer_factory("epochs=3", "keep_optimizer=true", "resume=x")
    resumed.validate_epoch = lambda epoch, final: ({}, [0.0, 0.0, 0.0])
    resumed.s.noval = True
    seen = []
    real_step = resumed.optimizer_step
    resumed.optimizer_step = lambda: (seen.append(resumed.last_opt_step), real_step())[1]
    resumed.fit()
    assert seen and seen[0] == saved  # the first step after resume continues from the saved position


@pytest.mark.slow  # the default suite's time (CI budget); the same mechanism has a faster test
def test_ctrl_c_saves_the_state_and_resume_continues_exactly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    args = [*TINY, "data.shapes.n_train=32", "batch_size=4", "nbs=4", "epochs=2", "keep_optimizer=true"]
    train(a, *args)
    proc = train(b, *args, wait=False)
    deadline = time.time() + 240
    while time.time() < deadline:  # Ctrl-C as soon as epoch 0 is saved: it lands inside epoch 1
        if list((b / "outputs").glob("*/*/weights/last.pt")):
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    run_b = only_run(b)
    ckpt = load_checkpoint(run_b / "weights" / "last.pt")
    assert ckpt["partial"]["epoch"] == 1 and 0 < ckpt["partial"]["batches"] < 8
    assert json.loads((run_b / "summary.json").read_text())["status"] == "interrupted"
    train(b, f"resume={run_b}")
    run_a = only_run(a)
    assert (run_a / "results.csv").read_text() == (run_b / "results.csv").read_text()
    ca, cb = load_checkpoint(run_a / "weights" / "last.pt"), load_checkpoint(run_b / "weights" / "last.pt")
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])


def test_hyp_anchors_are_not_overwritten_by_the_weights(trainer_factory, tmp_path):
    """YOLOv5 leaves the checkpoint's anchors out when hyp.anchors asks for new ones (AutoAnchor computes them)."""
    from yolo_exp.models.yolo import build_model

    donor = build_model("yolov5n", nc=4)
    state = donor.state_dict()
    state["model.24.anchors"] = torch.full_like(state["model.24.anchors"], 7.0)
    torch.save({"model": state}, tmp_path / "donor.pt")
    for anchors, expect_donor in (("null", True), ("3", False)):
        trainer = trainer_factory(f"weights={tmp_path / 'donor.pt'}", f"hyp.anchors={anchors}", "autoanchor=false")
        got = trainer.model.state_dict()["model.24.anchors"]
        assert bool(torch.all(got == 7.0)) == expect_donor, anchors


def test_user_builders_from_their_own_module_train_a_run(tmp_path):
    """model, data.dataset and device point at a user's module; val.py rebuilds the model without it."""
    train(tmp_path, *TINY, "epochs=1", "model._target_=tests.engine.user_factories.slim_model", "+model.width=0.25",
          "data.dataset._target_=tests.engine.user_factories.NotedDataset",
          "device._target_=tests.engine.user_factories.NotedAccelerator", "device.type=cpu")
    built = (tmp_path / "built.txt").read_text().splitlines()
    assert built == ["accelerator cpu", "model width=0.25", "dataset train: 16", "dataset val: 8"]
    run = only_run(tmp_path)
    from yolo_exp.build import checkpoint_model
    from yolo_exp.models.yolo import build_model

    model, _ = checkpoint_model(run / "weights" / "best.pt", logging.getLogger("test"))  # no user code needed
    expect = build_model({**build_model("yolov5n", nc=1).arch, "width_multiple": 0.25}, nc=model.nc)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in expect.parameters())
    assert json.loads((run / "summary.json").read_text())["provenance"]["model"]["params"] == \
        sum(p.numel() for p in expect.parameters())


def test_a_builder_that_returns_the_wrong_thing_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "epochs=1",
                           "model._target_=tests.engine.user_factories.not_a_model"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "model._target_='tests.engine.user_factories.not_a_model': built a dict, not a " \
           "yolo_exp.models.yolo.DetectionModel" in proc.stderr


def test_a_trainer_is_built_from_parts_without_hydra(tmp_path):
    """The trainer takes built objects and a settings record: no composed config needed."""
    from dataclasses import asdict
    from functools import partial

    from yolo_exp.config.schema import HypConfig
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.data.spec import resolve_data
    from yolo_exp.engine.device import Accelerator
    from yolo_exp.engine.ema import ModelEMA
    from yolo_exp.engine.optim import build_optimizer, lr_lambda
    from yolo_exp.engine.parts import Optimization, RunData, Training
    from yolo_exp.engine.settings import TrainSettings
    from yolo_exp.engine.trainer import Trainer
    from yolo_exp.loss.detect import DetectionLoss, scale_hyp_gains
    from yolo_exp.models.yolo import build_model
    from yolo_exp.report.run_folder import RunFolder

    spec = resolve_data({"shapes": {"n_train": 16, "n_val": 8, "img_size": 96, "seed": 0}}, cache_dir=tmp_path)
    accel = Accelerator(type="cpu")
    model = accel.place(build_model("yolov5n", nc=spec.nc, names=spec.names))
    hyp = {**asdict(HypConfig()), "warmup_epochs": 0.5}
    train_loader, train_set = create_dataloader(spec.train, 64, 8, 32, spec.nc, hyp=hyp, augment=True, workers=0,
                                                shuffle=True, cache_dir=tmp_path)
    val_loader, val_set = create_dataloader(spec.val, 64, 16, 32, spec.nc, rect=True, pad=0.5, workers=0,
                                            cache_dir=tmp_path)
    optimizer, accumulate = build_optimizer(partial(torch.optim.SGD, lr=0.01, momentum=0.937, nesterov=True),
                                            model, hyp, 8)
    opt = Optimization(optimizer, accumulate, lr_lambda(2, hyp["lrf"], False), ModelEMA(model), accel.grad_scaler())
    loss = DetectionLoss(model.detect.anchors, spec.nc, scale_hyp_gains(hyp, spec.nc, model.detect.nl, 64))
    parts = Training(accel, RunData(spec, spec.nc, spec.names, tmp_path), model, model, 64, hyp, train_loader,
                     train_set, val_loader, val_set, loss, opt, None)
    trainer = Trainer(parts, TrainSettings(epochs=2, batch_size=8, noplots=True), RunFolder(tmp_path / "run"))
    result = trainer.fit()
    assert result.epochs_done == 2 and result.status == "completed" and "map" in result.final
    assert [r["epoch"] for r in read_results(tmp_path / "run" / "results.csv")] == [0, 1]
    ckpt = load_checkpoint(tmp_path / "run" / "weights" / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["config"]["epochs"] == 2 and ckpt["arch"]["name"] == "yolov5n"


@pytest.mark.slow
def test_resume_on_changed_data_says_which_split_and_how(tmp_path):
    data = tmp_path / "ds"
    train(tmp_path, *TINY, "epochs=1", f"data.path={data}", f"hydra.run.dir={tmp_path / 'run'}")
    removed = sorted((data / "labels" / "train").glob("*.txt"))[0]
    boxes = len(removed.read_text().splitlines())
    removed.unlink()  # one training image loses its labels
    proc = train(tmp_path, f"resume={tmp_path / 'run'}", "epochs=2")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    first, second = summary["segments"]
    assert (first["epoch"], second["epoch"]) == (0, 1) and first["data"]["val"] == second["data"]["val"]
    before, after = first["data"]["train"]["boxes"], second["data"]["train"]["boxes"]
    assert after == before - boxes
    assert f"resume: the data changed since the run started: train {before} -> {after} boxes" in proc.stdout
