"""torchrun entry for tests/parallel/test_dist.py: train.py, optionally with a fault injected on one rank.

YOLO_EXP_TEST_FAULT="raise:RANK:EPOCH" raises when that rank starts that epoch; "kill:RANK:EPOCH" SIGKILLs that
rank there on the job's first attempt only (TORCHELASTIC_RESTART_COUNT=0), so an elastic restart can succeed.
YOLO_EXP_TEST_FALLING_FITNESS=1 scores epoch e's validation 1/(e+1), worse than every epoch before, so that early
stopping with patience=P stops after epoch P whatever the tiny model learns, also in a resumed process.
Production code carries no test hooks: the fault is patched in here, then train.py runs as its own __main__.
"""
from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def inject(kind: str, rank: int, epoch: int) -> None:
    from yolo_exp.engine.trainer import Trainer

    real = Trainer.train_epoch

    def train_epoch(self, ep: int, nb: int, batches=None):  # noqa: ANN001
        if ep == epoch and int(os.environ["RANK"]) == rank:
            if kind == "raise":
                raise RuntimeError(f"injected failure on rank {rank} at epoch {ep}")
            if kind == "kill" and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
                os.kill(os.getpid(), signal.SIGKILL)
        return real(self, ep, nb, batches)

    Trainer.train_epoch = train_epoch


def falling_fitness() -> None:
    from yolo_exp.engine import trainer

    real = trainer.Trainer.end_epoch

    def end_epoch(self, epoch: int, *args, **kwargs):  # noqa: ANN001
        trainer.compute_fitness = lambda metrics, weights: 1 / (epoch + 1)
        return real(self, epoch, *args, **kwargs)

    trainer.Trainer.end_epoch = end_epoch


def run_train_py(inject_from_env) -> None:  # noqa: ANN001
    """train.py as its own __main__, after the shared fitness switch and the entry's own injection."""
    sys.path.insert(0, str(ROOT))
    if os.environ.get("YOLO_EXP_TEST_FALLING_FITNESS") == "1":
        falling_fitness()
    inject_from_env()
    sys.argv[0] = str(ROOT / "train.py")
    runpy.run_path(sys.argv[0], run_name="__main__")


def _fault_from_env() -> None:
    fault = os.environ.get("YOLO_EXP_TEST_FAULT")
    if fault:
        kind, rank, epoch = fault.split(":")
        inject(kind, int(rank), int(epoch))


if __name__ == "__main__":
    run_train_py(_fault_from_env)
