"""YOLOv5's optimizer setup: three parameter groups, nominal-batch scaling, warmup, LR schedules, freezing.

Group order is v6.2+ (reference §2.3): 0 = biases, 1 = decayed conv/linear weights, 2 = normalisation weights;
results.csv's x/lr0..lr2 columns follow it.
"""
from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

NBS = 64  # nominal batch size: hyps are tuned for it

_log = logging.getLogger(__name__)
_TORCH_NORMS = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, _TORCH_NORMS) or "Norm" in type(module).__name__


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """[biases (no decay), conv/linear weights (decay), norm weights (no decay)]; frozen params included."""
    biases: list[nn.Parameter] = []
    weights: list[nn.Parameter] = []
    norms: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if name == "bias":
                biases.append(p)
            elif name == "weight" and _is_norm(module):
                norms.append(p)
            else:
                weights.append(p)
    return [
        {"params": biases, "weight_decay": 0.0},
        {"params": weights, "weight_decay": weight_decay},
        {"params": norms, "weight_decay": 0.0},
    ]


def accumulate_steps(batch_size: int, nbs: int = NBS) -> int:
    """Batches per optimizer step, so each step sees about ``nbs`` images."""
    return max(round(nbs / batch_size), 1)


def scaled_weight_decay(weight_decay: float, batch_size: int, accumulate: int, nbs: int = NBS) -> float:
    """Decay per step grows with the images per step; factor first, as YOLOv5 does, so 0.0005 prints as such."""
    return weight_decay * (batch_size * accumulate / nbs)


def build_optimizer(
    factory: Callable[..., torch.optim.Optimizer],
    model: nn.Module,
    hyp: Mapping,
    batch_size: int,
    nbs: int = NBS,
    log: Callable[[str], None] = _log.info,
) -> tuple[torch.optim.Optimizer, int]:
    """Complete a partially bound torch optimizer (Hydra ``_partial_: true``) with YOLOv5's groups.

    Returns the optimizer and the gradient-accumulation steps used to scale the weight decay.
    """
    accumulate = accumulate_steps(batch_size, nbs)
    decay = scaled_weight_decay(float(hyp["weight_decay"]), batch_size, accumulate, nbs)
    groups = param_groups(model, decay)
    optimizer = factory(groups)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
        if "betas" in group:  # Hydra hands over a ListConfig; warmup rewrites it as a tuple
            group["betas"] = tuple(float(b) for b in group["betas"])
    lr = getattr(factory, "keywords", {}).get("lr", optimizer.defaults["lr"])
    log(
        f"optimizer: {type(optimizer).__name__}(lr={lr}) with parameter groups "
        f"{len(groups[2]['params'])} weight(decay=0.0), {len(groups[1]['params'])} weight(decay={decay}), "
        f"{len(groups[0]['params'])} bias"
    )
    return optimizer, accumulate


def linear_lr(epoch: float, epochs: int, lrf: float) -> float:
    """LR factor falling linearly from 1 at epoch 0 to ``lrf`` at ``epochs``."""
    return (1 - epoch / epochs) * (1.0 - lrf) + lrf


def one_cycle_lr(epoch: float, epochs: int, lrf: float) -> float:
    """Half-cosine LR factor from 1 to ``lrf`` (YOLOv5 ``--cos-lr``)."""
    return ((1 - math.cos(epoch * math.pi / epochs)) / 2) * (lrf - 1) + 1


def lr_lambda(epochs: int, lrf: float, cos_lr: bool) -> Callable[[float], float]:
    """Factor for ``LambdaLR`` (stepped once per epoch); a partial, not a lambda, so it pickles."""
    return functools.partial(one_cycle_lr if cos_lr else linear_lr, epochs=epochs, lrf=lrf)


def build_scheduler(optimizer: torch.optim.Optimizer, lf: Callable[[float], float],
                    start_epoch: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` positioned as YOLOv5's for a run that starts (or resumes) at ``start_epoch``.

    YOLOv5 sets ``last_epoch = start_epoch - 1`` and steps after every epoch, so after warmup epoch e >= 1 trains at
    lf(e - 1): epochs 0 and 1 both at lf(0), the last at lf(epochs - 2). Resuming restores that same position.
    """
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
    scheduler.last_epoch = start_epoch - 1
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * lf(max(start_epoch - 1, 0))
    return scheduler


def warmup_iters(warmup_epochs: float, nb: int) -> int:
    """Warmup length in iterations: at least 100, so tiny datasets still warm up."""
    return max(round(warmup_epochs * nb), 100)


def _interp(x: float, nw: int, start: float, end: float) -> float:
    return float(np.interp(x, [0, nw], [start, end]))


def apply_warmup(
    optimizer: torch.optim.Optimizer,
    ni: int,
    nw: int,
    epoch: int,
    lf: Callable[[float], float],
    hyp: Mapping,
    batch_size: int,
    nbs: int = NBS,
) -> int:
    """Set LR and momentum for iteration ``ni`` of warmup and return the accumulation steps for it.

    Biases start high (warmup_bias_lr) and fall, weights rise from 0; all meet initial_lr·lf(epoch) at ``nw``.
    Call it while ``ni <= nw``; past ``nw`` it holds the end values. Adam's beta1 is warmed like SGD momentum.
    """
    for j, group in enumerate(optimizer.param_groups):
        start = float(hyp["warmup_bias_lr"]) if j == 0 else 0.0
        group["lr"] = _interp(ni, nw, start, group["initial_lr"] * lf(epoch))
        momentum = _interp(ni, nw, float(hyp["warmup_momentum"]), float(hyp["momentum"]))
        if "momentum" in group:
            group["momentum"] = momentum
        elif "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
    return max(1, round(_interp(ni, nw, 1.0, nbs / batch_size)))


def freeze_layers(model: nn.Module, freeze: int | Sequence[int]) -> list[str]:
    """Freeze top-level layers ``model.{i}.`` (int N: layers 0..N-1; a list: those indices); unfreeze the rest.

    Names may carry a wrapper prefix (``module.``), so a layer matches at the start or after a dot.
    """
    depth = 1 + max((int(m.group(1)) for n, _ in model.named_parameters()
                     if (m := re.search(r"(?:^|\.)model\.(\d+)\.", n))), default=-1)
    beyond = [i for i in ([freeze - 1] if isinstance(freeze, int) else freeze) if i >= depth]
    if beyond:
        raise ValueError(f"freeze={list(freeze) if not isinstance(freeze, int) else freeze}: the model has {depth} "
                         f"layers (0..{depth - 1}); {beyond} {'is' if len(beyond) == 1 else 'are'} beyond it")
    layers = range(freeze) if isinstance(freeze, int) else freeze
    prefixes = tuple(f"model.{i}." for i in layers)
    frozen = []
    for name, p in model.named_parameters():
        hit = any(name.startswith(x) or f".{x}" in name for x in prefixes)
        p.requires_grad_(not hit)
        if hit:
            frozen.append(name)
    return frozen


def clipped_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, model: nn.Module,
                   ema: Any = None) -> bool:
    """YOLOv5's step: unscale, clip the gradient norm to 10, step, update the scaler, zero the gradients, EMA.

    A step with non-finite gradients is skipped: by an enabled scaler (on the device for a fused optimizer), else
    by a check here, which waits for the device. Returns False when this check skipped it.
    """
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
    if not scaler.is_enabled() and not torch.isfinite(norm):
        optimizer.zero_grad()
        return False
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    if ema is not None:
        ema.update(model)
    return True
