"""Optimizer groups, nominal-batch scaling, warmup, schedules and freezing against YOLOv5's formulas (§2.2-2.5)."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from yolo_exp.engine.optim import (
    accumulate_steps,
    apply_warmup,
    build_optimizer,
    build_scheduler,
    freeze_layers,
    linear_lr,
    lr_lambda,
    param_groups,
    scaled_weight_decay,
    warmup_iters,
)

HYP = {"lr0": 0.01, "lrf": 0.01, "momentum": 0.937, "weight_decay": 0.0005, "warmup_epochs": 3.0,
       "warmup_momentum": 0.8, "warmup_bias_lr": 0.1}


class Net(nn.Module):
    """Top-level layers under ``model`` so parameter names read ``model.{i}.…`` like a DetectionModel."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.SiLU(),
            nn.Conv2d(8, 8, 1), nn.GroupNorm(2, 8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 4), nn.Linear(4, 4), nn.Linear(4, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def sgd(**kw) -> functools.partial:
    return functools.partial(torch.optim.SGD, lr=0.01, momentum=0.937, nesterov=True, **kw)


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_param_groups_split_biases_weights_and_norm_weights() -> None:
    net = Net()
    m = net.model
    groups = param_groups(net, 0.001)
    assert [g["weight_decay"] for g in groups] == [0.0, 0.001, 0.0]
    biases = [m[1].bias, m[3].bias, m[4].bias, m[7].bias, m[8].bias, m[9].bias, m[10].bias, m[11].bias]
    assert ids(groups[0]["params"]) == ids(biases)
    assert ids(groups[1]["params"]) == ids([m[0].weight, m[3].weight, m[7].weight, m[9].weight, m[10].weight,
                                            m[11].weight])
    assert ids(groups[2]["params"]) == ids([m[1].weight, m[4].weight, m[8].weight])
    flat = [id(p) for g in groups for p in g["params"]]
    assert len(flat) == len(set(flat)) == len(list(net.parameters()))


def test_param_groups_count_shared_and_frozen_params_once() -> None:
    net = Net()
    net.head = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net.head[1].weight = net.head[0].weight  # tied weights
    net.extra = net.model[8]  # the same module reachable twice
    freeze_layers(net, 3)
    flat = [id(p) for g in param_groups(net, 0.0) for p in g["params"]]
    assert len(flat) == len(set(flat)) == len(list(net.parameters()))
    assert not net.model[0].weight.requires_grad and id(net.model[0].weight) in flat


def test_yolov5s_groups_and_log_line() -> None:
    try:
        from yolo_exp.models import build_model
    except ImportError:
        build_model = pytest.importorskip("yolo_exp.models.yolo").build_model
    model = build_model("yolov5s", 80)
    lines: list[str] = []
    opt, accumulate = build_optimizer(sgd(), model, HYP, batch_size=16, log=lines.append)
    assert accumulate == 4
    assert [len(g["params"]) for g in opt.param_groups] == [60, 60, 57]
    assert lines == ["optimizer: SGD(lr=0.01) with parameter groups 57 weight(decay=0.0), "
                     "60 weight(decay=0.0005), 60 bias"]


@pytest.mark.parametrize(("bs", "acc", "factor"), [(8, 8, 1.0), (16, 4, 1.0), (32, 2, 1.0), (64, 1, 1.0),
                                                   (128, 1, 2.0)])
def test_weight_decay_scaling(bs: int, acc: int, factor: float) -> None:
    assert accumulate_steps(bs) == acc
    assert scaled_weight_decay(0.0005, bs, acc) == pytest.approx(0.0005 * factor, rel=1e-12)
    opt, accumulate = build_optimizer(sgd(), Net(), HYP, batch_size=bs, log=lambda _: None)
    assert accumulate == acc
    assert [g["weight_decay"] for g in opt.param_groups] == pytest.approx([0.0, 0.0005 * factor, 0.0])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_build_optimizer_from_partial(name: str) -> None:
    if name == "SGD":
        factory = sgd()
    else:
        factory = functools.partial(getattr(torch.optim, name), lr=0.001, betas=[0.937, 0.999])
    opt, _ = build_optimizer(factory, Net(), HYP, batch_size=64, log=lambda _: None)
    assert type(opt).__name__ == name
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.0005, 0.0]
    assert all(g["initial_lr"] == g["lr"] == factory.keywords["lr"] for g in opt.param_groups)
    if name == "SGD":
        assert all(g["momentum"] == 0.937 and g["nesterov"] for g in opt.param_groups)
    else:
        assert all(g["betas"] == (0.937, 0.999) for g in opt.param_groups)
    # resuming a schedule needs initial_lr in every group
    torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(10, 0.1, False), last_epoch=4)


def test_lr_lambda_formulas() -> None:
    lin, cos = lr_lambda(300, 0.01, False), lr_lambda(300, 0.01, True)
    assert [lin(e) for e in (0, 150, 300)] == pytest.approx([1.0, 0.505, 0.01])
    assert [cos(e) for e in (0, 150, 300)] == pytest.approx([1.0, 0.505, 0.01])
    assert lin(75) == pytest.approx(0.7525)
    assert cos(75) == pytest.approx(1 - 0.99 * (1 - math.cos(math.pi / 4)) / 2)


def test_warmup_iters() -> None:
    assert warmup_iters(3.0, 1000) == 3000
    assert warmup_iters(3.0, 10) == 100
    assert warmup_iters(0.5, 301) == 150  # round half to even, as Python's round


def test_warmup_start_middle_end() -> None:
    opt, _ = build_optimizer(sgd(), Net(), HYP, batch_size=16, log=lambda _: None)
    nb, nw = 50, warmup_iters(3.0, 50)
    lf = lr_lambda(300, 0.01, False)
    acc = apply_warmup(opt, 0, nw, 0, lf, HYP, batch_size=16)
    assert acc == 1
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0, 0.0]
    assert all(g["momentum"] == 0.8 for g in opt.param_groups)

    ni = 75
    epoch = ni // nb
    target = 0.01 * linear_lr(epoch, 300, 0.01)
    acc = apply_warmup(opt, ni, nw, epoch, lf, HYP, batch_size=16)
    assert acc == 2  # round(2.5) -> 2
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs == pytest.approx([0.1 + (target - 0.1) / 2, target / 2, target / 2], rel=1e-12)
    assert opt.param_groups[1]["momentum"] == pytest.approx((0.8 + 0.937) / 2)

    acc = apply_warmup(opt, nw, nw, 2, lf, HYP, batch_size=16)
    assert acc == 4
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 * lf(2)] * 3)
    assert all(g["momentum"] == pytest.approx(0.937) for g in opt.param_groups)


def test_warmup_moves_adam_beta1() -> None:
    factory = functools.partial(torch.optim.AdamW, lr=0.001, betas=(0.937, 0.999))
    opt, _ = build_optimizer(factory, Net(), HYP, batch_size=32, log=lambda _: None)
    apply_warmup(opt, 50, 100, 0, lr_lambda(10, 0.1, False), HYP, batch_size=32)
    assert all(g["betas"] == pytest.approx((0.8685, 0.999)) for g in opt.param_groups)
    assert opt.param_groups[2]["lr"] == pytest.approx(0.0005)


def test_accumulate_ramp() -> None:
    opt, _ = build_optimizer(sgd(), Net(), HYP, batch_size=8, log=lambda _: None)
    lf = lr_lambda(100, 0.01, False)
    ramp = [apply_warmup(opt, ni, 140, 0, lf, HYP, batch_size=8) for ni in range(141)]
    assert ramp == [max(1, round(1 + 7 * ni / 140)) for ni in range(141)]
    assert ramp[0] == 1 and ramp[-1] == 8 and ramp == sorted(ramp)


def yolov5_epoch_lrs(epochs: int, nb: int, nw: int, hyp: dict, cos_lr: bool) -> list[list[float]]:
    """The x/lr0..2 YOLOv5 records per epoch, written from its documented loop (§2.4-2.5), independently of ours:
    LambdaLR built (lr = lr0·lf(0)), then ``last_epoch = -1``; warmup interpolates towards lr0·lf(epoch) while
    ni <= nw; the row is read after the epoch; ``scheduler.step()`` then sets lr0·lf(last_epoch + 1)."""
    lr0, lrf = hyp["lr0"], hyp["lrf"]

    def lf(x: float) -> float:
        if cos_lr:
            return ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1
        return (1 - x / epochs) * (1 - lrf) + lrf

    lr, last_epoch, rows = [lr0 * lf(0)] * 3, -1, []
    for epoch in range(epochs):
        for ni in range(nb * epoch, nb * (epoch + 1)):
            if ni <= nw:
                lr = [float(np.interp(ni, [0, nw], [hyp["warmup_bias_lr"] if j == 0 else 0.0, lr0 * lf(epoch)]))
                      for j in range(3)]
        rows.append(lr)
        last_epoch += 1
        lr = [lr0 * lf(last_epoch)] * 3
    return rows


def our_epoch_lrs(epochs: int, nb: int, nw: int, hyp: dict, cos_lr: bool, resume_at: int = 0) -> list[list[float]]:
    """The trainer's loop reduced to its LR calls (apply_warmup while ni <= nw, build_scheduler, step per epoch);
    with ``resume_at`` the optimizer and scheduler are rebuilt there as a resume does."""
    lf = lr_lambda(epochs, hyp["lrf"], cos_lr)
    rows = []
    for start, stop in ((0, resume_at), (resume_at, epochs)):
        opt, _ = build_optimizer(sgd(), Net(), hyp, batch_size=64, log=lambda _: None)
        sched = build_scheduler(opt, lf, start)
        for epoch in range(start, stop):
            for ni in range(nb * epoch, nb * (epoch + 1)):
                if ni <= nw:
                    apply_warmup(opt, ni, nw, epoch, lf, hyp, batch_size=64)
                opt.step()
            rows.append([g["lr"] for g in opt.param_groups])
            sched.step()
    return rows


@pytest.mark.parametrize("cos_lr", [False, True])
@pytest.mark.parametrize("resume_at", [0, 1, 7, 29])
def test_epoch_lrs_equal_yolov5s(cos_lr: bool, resume_at: int) -> None:
    nb, nw = 20, warmup_iters(3, 20)  # warmup (100 iterations) ends inside epoch 5
    ours = our_epoch_lrs(30, nb, nw, HYP, cos_lr, resume_at)
    expected = yolov5_epoch_lrs(30, nb, nw, HYP, cos_lr)
    assert np.ravel(ours).tolist() == pytest.approx(np.ravel(expected).tolist(), rel=1e-12, abs=1e-15)


def test_schedule_is_one_epoch_behind_lf() -> None:
    """After warmup, epoch e trains at lr0·lf(e - 1): 0.0067 in the row of epoch 11 (lf(10), counted from 0
    as results.csv does; lf(e) gives it at epoch 10), 0.00076 in the last row, where lf(e) gives 0.00043."""
    rows = our_epoch_lrs(30, 10, 9, HYP, cos_lr=False)  # warmup within epoch 0
    assert rows[10][1] == pytest.approx(0.00703) and rows[11][1] == pytest.approx(0.0067)
    assert rows[29] == pytest.approx([0.00076] * 3)
    assert rows[1] == pytest.approx([0.01] * 3) and rows[2] == pytest.approx([0.01 * lf for lf in [0.967] * 3])


def test_freeze_int_list_and_step_leaves_frozen_bits() -> None:
    net = Net()
    assert freeze_layers(net, 2) == ["model.0.weight", "model.1.weight", "model.1.bias"]
    frozen = freeze_layers(net, [1, 9])  # model.1. must not catch model.10./model.11.
    assert frozen == ["model.1.weight", "model.1.bias", "model.9.weight", "model.9.bias"]
    assert net.model[0].weight.requires_grad  # earlier freeze undone, as YOLOv5 unfreezes all first
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt, _ = build_optimizer(sgd(weight_decay=0.1), net, HYP, batch_size=64, log=lambda _: None)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(before)  # frozen stay in groups
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(2, 3, 8, 8)).square().sum().backward()
        opt.step()
    for name, p in net.named_parameters():
        same = torch.equal(p, before[name])
        assert same == (name in frozen), name
