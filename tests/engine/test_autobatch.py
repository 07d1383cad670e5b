"""AutoBatch: the choice from measured memory (pure), the refusals, and a training run that picks its batch through
a made-up memory probe, records it and resumes with it."""
from __future__ import annotations

import logging

import pytest
import yaml

from tests.engine.test_trainer import TINY, only_run, train
from yolo_exp.config.validate import ConfigError, is_auto_batch
from yolo_exp.engine.autobatch import PROFILED, auto_batch, pick_batch


def linear(per_image: float, base: float) -> list[float]:
    return [base + per_image * b for b in PROFILED]


def test_largest_batch_within_the_fraction_truncated():
    assert pick_batch(linear(0.1, 0.45), free_gib=10, fraction=0.6)[0] == 55  # 55.5 images fit: 55
    assert pick_batch(linear(0.1, 0.45), free_gib=10, fraction=0.8)[0] == 75
    assert pick_batch(linear(0.1, 0.45), free_gib=20, fraction=0.6)[0] == 115  # twice the memory: 115.5


def test_out_of_memory_caps_the_batch_below_the_size_that_failed():
    needs = linear(0.1, 0.5)[:3] + [None, None]  # 8 ran out, though the line says 54 would fit
    batch, why = pick_batch(needs, free_gib=10, fraction=0.6)
    assert batch == 4 and "batch 8 ran out" in why
    assert pick_batch([1.0, None, None, None, None], 10, 0.6)[0] == 1
    with pytest.raises(ConfigError, match="even batch 1"):
        pick_batch([None] * 5, 10, 0.6)


def test_absurd_fits_fall_back_to_16():
    assert pick_batch([2.0] * 5, free_gib=10, fraction=0.6)[0] == 16  # flat: memory does not grow with the batch
    assert pick_batch(linear(0.0001, 0.1), free_gib=80, fraction=0.6)[0] == 16  # beyond 1024
    assert pick_batch(linear(0.1, 9.0), free_gib=10, fraction=0.6)[0] == 16  # the model alone is over budget


class _Accel:
    device = "cpu"

    def __init__(self, probe=None):  # noqa: ANN001
        self.probe, self.asked = probe, []

    def memory_probe(self, model, imgsz):  # noqa: ANN001, ANN201
        if self.probe is None:
            return None

        def probe(b):  # noqa: ANN001, ANN202
            self.asked.append(b)
            return self.probe(b)
        return probe, 10.0


def test_auto_batch_stops_profiling_at_the_first_failure_and_logs_its_choice(caplog):
    accel = _Accel(lambda b: None if b >= 4 else 0.5 + 0.1 * b)
    with caplog.at_level(logging.INFO):
        assert auto_batch(None, 320, accel, 0.6, logging.getLogger("t")) == 2
    assert accel.asked == [1, 2, 4] and "AutoBatch: batch_size=2 for imgsz 320" in caplog.text
    with pytest.raises(ConfigError, match="this run is on cpu"):
        auto_batch(None, 320, _Accel(), 0.6, logging.getLogger("t"))
    with pytest.raises(ConfigError, match="one GPU"):
        auto_batch(None, 320, accel, 0.6, logging.getLogger("t"), world_size=2)


def test_auto_spellings():
    assert all(is_auto_batch(v) for v in ("auto", "AUTO", -1))
    assert not any(is_auto_batch(v) for v in (16, "16", True, -2, None))


@pytest.mark.slow  # the default suite's time (CI budget)
def test_training_picks_records_and_resumes_with_its_batch(tmp_path):
    """batch_size=auto through the device group's memory probe (a made-up one: 0.25 GiB per image over 1 GiB,
    10 GiB free, batch 16 out of memory): 25% of the free memory gives batch 6, which the run trains with,
    writes to config_resolved.yaml, and keeps when resumed; device=cpu is refused before anything is written."""
    fake = "device._target_=tests.engine.user_factories.FakeMemoryAccelerator"
    args = [*(a for a in TINY if not a.startswith("workers=")), "epochs=1", "batch_size=auto",  # default workers
            "autobatch_fraction=0.25", fake]
    train(tmp_path, *args)
    run = only_run(tmp_path)
    assert "AutoBatch: batch_size=6 for imgsz 64" in (run / "train.log").read_text()
    assert yaml.safe_load((run / "config_resolved.yaml").read_text())["batch_size"] == 6
    train(tmp_path, f"resume={run}", "epochs=2")
    assert yaml.safe_load((run / "config_resolved.yaml").read_text())["batch_size"] == 6
    assert (tmp_path / "built.txt").read_text().count("memory probe") == 1  # the resume did not profile again


def test_a_job_asking_for_autobatch_is_the_run_that_recorded_its_pick():
    """A rerun sweep job (batch_size=auto) finds its own run (batch 6 recorded), not another config's."""
    from yolo_exp.config.resume import config_diff

    assert config_diff({"batch_size": "auto", "epochs": 3}, {"batch_size": 6, "epochs": 3}) == []
    assert config_diff({"batch_size": -1, "epochs": 3}, {"batch_size": 6, "epochs": 4}) == ["epochs"]
    assert config_diff({"batch_size": 8}, {"batch_size": 6}) == ["batch_size"]
