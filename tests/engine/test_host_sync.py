"""The training step must not wait for the device every iteration: on a GPU each host read of a tensor (``.item()``,
``.tolist()``, ``.cpu()``, ``bool(t)``, ...) stalls the CPU until the queued kernels finish, so the next batch is not
queued in time. Counted on the CPU by wrapping those Tensor methods (CI has no GPU)."""
from __future__ import annotations

import collections
import traceback

import pytest
import torch

from tests.engine.test_trainer import TINY

def _step_check_line() -> int:
    import inspect

    from yolo_exp.engine.optim import clipped_step

    lines, start = inspect.getsourcelines(clipped_step)
    return start + next(i for i, ln in enumerate(lines) if "torch.isfinite(norm)" in ln)


STEP_CHECK_LINE = _step_check_line()
SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@pytest.fixture
def count_syncs(monkeypatch):
    """Wrap the host-reading Tensor methods; returns a Counter of (method, caller 'file:line')."""
    seen: collections.Counter = collections.Counter()

    def wrap(name: str, real):  # noqa: ANN001, ANN202
        def counted(self, *args, **kwargs):  # noqa: ANN001, ANN202
            if counting[0] and self.numel() > 0:
                frame = traceback.extract_stack(limit=2)[0]
                seen[(name, f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}")] += 1
            return real(self, *args, **kwargs)
        return counted

    counting = [False]
    for name in SYNC_METHODS:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    return seen, counting


@pytest.mark.parametrize("fused", [False, pytest.param(True, marks=pytest.mark.slow)])  # True: CI budget
def test_the_training_step_reads_the_device_only_at_intervals(tmp_path, count_syncs, fused):
    """Foreach SGD: one read per optimizer step (the non-finite gradient check), shown with YOLOv5's nbs=64 (a step
    every 8 batches); fused SGD skips a bad step on the device: no read at all, even with a step every batch."""
    from yolo_exp.build import build_trainer
    from yolo_exp.config.compose import compose_checked

    cfg = compose_checked([*TINY, "data.shapes.n_train=160", "noplots=true", f"cache_dir={tmp_path / 'c'}",
                           "epochs=2", "autoanchor=false", "nbs=8" if fused else "nbs=64",
                           f"optimizer.fused={str(fused).lower()}"])
    trainer = build_trainer(cfg, tmp_path / "run")
    nb = len(trainer.train_loader)
    trainer.nw, trainer.last_opt_step = -1, -1  # past warmup: YOLOv5's accumulation (nbs 64 / batch 8)
    seen, counting = count_syncs
    counting[0] = True
    trainer.train_epoch(1, nb)
    counting[0] = False
    ours = {k: n for k, n in seen.items()
            if k[1].split(":")[0] in ("trainer.py", "loss.py", "ema.py", "dist.py", "optim.py", "grad_scaler.py")}
    steps = ours.pop(("__bool__", "optim.py:%d" % STEP_CHECK_LINE), 0)  # the non-finite gradient check
    assert nb == 20
    if fused:
        assert trainer.accumulate == 1 and steps == 0 and trainer.scaler.is_enabled()
    else:
        assert 0 < steps <= -(-nb // trainer.accumulate)  # one per optimizer step (every 8 batches)
    # the display reads (batches 0, 10, 19: the NaN count and the losses) and the epoch's mean loss, once
    assert sum(ours.values()) <= 3 * 2 + 1, ours


@pytest.mark.parametrize("fused", [False, True])
def test_non_finite_losses_are_counted_on_the_device_and_skip_their_steps(tmp_path, fused):
    """The lazy NaN guard: steps with a non-finite loss change no weight (skipped on the host's check, or on the
    device by a fused optimizer), and the run's mean loss ignores them."""
    from yolo_exp.build import build_trainer
    from yolo_exp.config.compose import compose_checked

    cfg = compose_checked([*TINY, "noplots=true", f"cache_dir={tmp_path / 'c'}", "epochs=2", "autoanchor=false",
                           "nbs=8", f"optimizer.fused={str(fused).lower()}"])
    trainer = build_trainer(cfg, tmp_path / "run")
    trainer.nw, trainer.last_opt_step = -1, -1
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    real = trainer.compute_loss
    trainer.compute_loss = lambda p, t: (lambda loss, items: (loss * float("nan"), items))(*real(p, t))
    mloss, _ = trainer.train_epoch(1, len(trainer.train_loader))
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)
    assert int(trainer.guard.bad_run) == len(trainer.train_loader) == trainer.guard.bad_seen
    assert torch.equal(mloss, torch.zeros(3))  # no finite loss was seen this epoch
