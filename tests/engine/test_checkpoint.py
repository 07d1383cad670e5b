"""Checkpoints: atomic under SIGKILL, weights_only-loadable, RNG round trip, strip."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from yolo_exp.engine.checkpoint import atomic_save, load_checkpoint, rng_state, set_rng_state, strip_checkpoint
from yolo_exp.files.atomic import TEMP_SUFFIX
from yolo_exp.models.weights import torch_load

WRITER = """
import sys, torch
from yolo_exp.engine.checkpoint import atomic_save
path = sys.argv[1]
i = 0
print("ready", flush=True)
while True:
    i += 1
    atomic_save({"i": i, "w": torch.full((4_000_000,), float(i))}, path)
"""


def test_kill_during_writes_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"i": 0, "w": torch.zeros(4_000_000)}, path)
    for delay in (0.15, 0.4, 0.75):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = torch_load(path)  # weights_only=True; must never be half written
        assert torch.all(ckpt["w"] == float(ckpt["i"]))
    leftovers = [p for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert all(p.name.endswith(TEMP_SUFFIX) for p in leftovers)  # a killed write leaves at most our temp file


def test_rng_state_round_trip_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    atomic_save({"rng": rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    set_rng_state(torch_load(tmp_path / "r.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception):
        load_checkpoint(tmp_path / "evil.pt")


def test_strip_keeps_fp16_ema_weights(tmp_path):
    ema = {"a": torch.ones(3), "n": torch.tensor(5)}
    atomic_save({"model": {"a": torch.zeros(3), "n": torch.tensor(5)}, "ema": ema, "optimizer": {"s": 1},
                 "epoch": 3}, tmp_path / "best.pt")
    strip_checkpoint(tmp_path / "best.pt")
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["model"]["a"].dtype == torch.float16 and torch.all(ckpt["model"]["a"] == 1)
    assert "optimizer" not in ckpt and "ema" not in ckpt and ckpt["epoch"] == 3
