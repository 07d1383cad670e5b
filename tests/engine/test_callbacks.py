"""Plug-in points: a user's callbacks from their own module add a results column and stop the run; a failing
callback at the end does not lose the run's record."""
from __future__ import annotations

import json

from tests.engine.test_trainer import TINY, only_run, train
from yolo_exp.engine.callbacks import CallbackList, RunEnd
from yolo_exp.report.results import COLUMNS, read_results


def test_user_callbacks_add_a_column_and_stop_the_run(tmp_path):
    train(tmp_path, *TINY, "epochs=4", "+callbacks.col._target_=tests.engine.user_callbacks.AddColumn",
          "+callbacks.stop._target_=tests.engine.user_callbacks.StopAfter", "+callbacks.stop.epochs=2")
    run = only_run(tmp_path)
    rows = read_results(run / "results.csv")
    assert [r["epoch"] for r in rows] == [0, 1]  # stopped after its 2nd epoch of 4
    header = (run / "results.csv").read_text().splitlines()[0].split(",")
    assert [h.strip() for h in header] == [*COLUMNS, "my/train_loss"]  # YOLOv5's columns first, unchanged
    for r in rows:
        assert abs(r["my/train_loss"] - (r["train/box_loss"] + r["train/obj_loss"] + r["train/cls_loss"])) < 1e-3
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_done"] == 2
    assert summary["stopped"] == {"epoch": 2, "reason": "my rule: 2 epochs are enough"}
    assert (run / "weights" / "best.pt").is_file() and (run / "PR_curve.png").is_file()  # finished as usual
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(run)).Reload().Tags()["scalars"]
    assert "my/train_loss" in tags  # loggers run after the user's callbacks


def test_every_callback_hears_the_end_even_if_one_fails(tmp_path):
    heard = []

    class Broken:
        def on_run_end(self, end):  # noqa: ANN001
            raise OSError("disk full")

    class Listener:
        def on_run_end(self, end):  # noqa: ANN001
            heard.append(end.status)

    CallbackList([Broken(), object(), Listener()]).on_run_end(RunEnd(tmp_path, "completed"))
    assert heard == ["completed"]


def test_a_callback_without_target_is_refused_by_name(tmp_path):
    proc = train(tmp_path, *TINY, "epochs=1", "+callbacks.mine.x=1", wait=False)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "callbacks.mine: expected a mapping with _target_" in err
