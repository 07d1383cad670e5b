"""Segmentation as a second task of the same trainer: the run folder of a seg run, and its exact resume."""
from __future__ import annotations

import json

import pytest
import torch

from tests.engine.test_trainer import TINY, kill_once_recorded, only_run, train
from yolo_exp.engine.checkpoint import load_checkpoint
from yolo_exp.report.results import SEG_COLUMNS, read_results

SEG = [*TINY, "model=yolov5n-seg", "keep_optimizer=true"]  # the demo becomes its segmentation twin


@pytest.mark.slow  # the default suite's time (CI budget)
def test_a_seg_run_writes_the_whole_run_folder_and_resumes_exactly_after_sigkill(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    train(a, *SEG, "epochs=2")
    run_a = only_run(a)
    for rel in ("weights/last.pt", "weights/best.pt", "results.csv", "results.png", "summary.json", "labels.jpg",
                "train_batch0.jpg", "val_batch0_labels.jpg", "val_batch0_pred.jpg", "PR_curve.png",
                "confusion_matrix.png", "metrics.json"):
        assert (run_a / rel).is_file(), rel
    rows = read_results(run_a / "results.csv")
    assert [r["epoch"] for r in rows] == [0, 1] and list(rows[0]) == list(SEG_COLUMNS)
    assert all(r["train/seg_loss"] > 0 and r["val/seg_loss"] > 0 for r in rows)
    log = (run_a / "train.log").read_text()
    assert "seg_loss" in log and "Mask(P" in log and "-seg" in log  # trained on the shapes twin
    summary = json.loads((run_a / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["best"]["mask_map"] is not None
    metrics = json.loads((run_a / "metrics.json").read_text())  # best.pt's final validation
    assert set(metrics["losses"]) == {"box", "seg", "obj", "cls"} and "map" in metrics["mask"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = set(EventAccumulator(str(run_a)).Reload().Tags()["scalars"])
    assert {"train/seg_loss", "metrics/mAP_0.5:0.95(M)", "metrics/mAP_0.5(B)"} <= scalars
    ckpt = load_checkpoint(run_a / "weights" / "best.pt")
    assert ckpt["arch"].get("task") == "segment" or "Segment" in json.dumps(ckpt["arch"])

    run_b = kill_once_recorded(train(b, *SEG, "epochs=2", wait=False), b, epochs=1)  # the same run, killed
    assert json.loads((run_b / "summary.json").read_text())["epochs_done"] < 2  # killed before the end
    train(b, f"resume={run_b}")
    assert (run_a / "results.csv").read_text() == (run_b / "results.csv").read_text()
    ca, cb = load_checkpoint(run_a / "weights" / "last.pt"), load_checkpoint(run_b / "weights" / "last.pt")
    for key in ("model", "ema"):
        assert all(torch.equal(ca[key][k], cb[key][k]) for k in ca[key]), key


def test_one_mask_per_instance_and_another_mask_ratio_train_too(tmp_path):
    """overlap_mask=false: (N, h, w) masks aligned with the targets, through the loss, validation and plots."""
    from yolo_exp.build import build_trainer
    from yolo_exp.config.compose import compose_checked

    cfg = compose_checked([*SEG, "overlap_mask=false", "mask_ratio=2", "epochs=1", f"cache_dir={tmp_path}"])
    trainer = build_trainer(cfg, tmp_path / "run")
    assert not trainer.train_set.overlap and trainer.train_set.mask_ratio == 2
    result = trainer.fit()
    row = read_results(tmp_path / "run" / "results.csv")[0]
    assert result.epochs_done == 1 and row["train/seg_loss"] > 0 and "mask_map" in result.best
    assert (tmp_path / "run" / "train_batch0.jpg").is_file()
