"""ModelEMA: the decay ramp, one update against the hand formula, BN buffers, wrappers, state round trip."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from yolo_exp.engine.ema import ModelEMA, ema_decay, unwrap_model


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SiLU(), nn.Conv2d(4, 2, 1))


def perturb(net: nn.Module) -> None:
    """Change weights and, through a training-mode forward, the BN running stats and batch counter."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net.train()
    net(torch.randn(4, 3, 8, 8) * 3 + 1)


@pytest.mark.parametrize(("updates", "expected"), [
    (0, 0.0), (1, 0.9999 * (1 - math.exp(-1 / 2000))), (2000, 0.9999 * (1 - math.exp(-1))),
    (20000, 0.9999 * (1 - math.exp(-10))),
])
def test_decay_ramp(updates: int, expected: float) -> None:
    assert ema_decay(updates) == pytest.approx(expected, rel=1e-12, abs=0)
    assert ModelEMA(small_net()).decay(updates) == pytest.approx(expected, rel=1e-12, abs=0)
    assert ema_decay(updates, decay=0.999, tau=100) == pytest.approx(0.999 * (1 - math.exp(-updates / 100)))


def test_ema_copy_is_frozen_eval_and_independent() -> None:
    net = small_net()
    ema = ModelEMA(net)
    assert not ema.ema.training and net.training
    assert not any(p.requires_grad for p in ema.ema.parameters())
    assert all(p.requires_grad for p in net.parameters())
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(ema.ema.parameters(), net.parameters()))


def test_one_update_matches_hand_formula_including_bn_buffers() -> None:
    net = small_net()
    ema = ModelEMA(net, updates=1500)
    old = {k: v.clone() for k, v in ema.ema.state_dict().items()}
    perturb(net)
    new = net.state_dict()
    ema.update(net)
    d = 0.9999 * (1 - math.exp(-1501 / 2000))
    assert ema.updates == 1501
    state = ema.ema.state_dict()
    for key, value in state.items():
        if value.dtype.is_floating_point:
            assert torch.allclose(value, d * old[key] + (1 - d) * new[key], rtol=1e-6, atol=1e-7), key
            assert not torch.equal(value, old[key]), key
        else:
            assert torch.equal(value, new[key]), key  # num_batches_tracked copied
    assert state["1.num_batches_tracked"].item() == 1
    assert {"1.running_mean", "1.running_var"} <= set(state)


def test_update_through_dataparallel_and_compile_wrappers() -> None:
    net = small_net()
    assert unwrap_model(nn.DataParallel(net)) is net
    compiled = torch.compile(net)  # wrapping alone does not compile
    assert unwrap_model(compiled) is net
    ema = ModelEMA(compiled)
    assert list(ema.ema.state_dict()) == list(net.state_dict())
    perturb(net)
    ema.update(nn.DataParallel(net))
    d = ema.decay(1)
    w = ema.ema.state_dict()["0.weight"]
    assert torch.allclose(w, d * small_net().state_dict()["0.weight"] + (1 - d) * net.state_dict()["0.weight"])


def test_state_dict_round_trip_with_weights_only(tmp_path) -> None:
    net = small_net()
    ema = ModelEMA(net)
    for _ in range(3):
        perturb(net)
        ema.update(net)
    torch.save(ema.state_dict(), tmp_path / "ema.pt")
    restored = ModelEMA(small_net())
    restored.load_state_dict(torch.load(tmp_path / "ema.pt", weights_only=True))
    assert restored.updates == 3
    for a, b in zip(restored.ema.state_dict().values(), ema.ema.state_dict().values()):
        assert torch.equal(a, b)


def test_update_attr_copies_named_attributes() -> None:
    net = small_net()
    net.nc, net.names = 2, ["a", "b"]
    ema = ModelEMA(net)
    net.nc, net.names = 3, ["a", "b", "c"]
    ema.update_attr(net, include=["nc", "names", "missing"])
    assert ema.ema.nc == 3 and ema.ema.names == ["a", "b", "c"] and not hasattr(ema.ema, "missing")
