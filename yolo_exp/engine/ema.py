"""Exponential moving average of model weights (YOLOv5 ModelEMA, reference §2.6): what is validated and saved."""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model under DataParallel / DistributedDataParallel and ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def ema_decay(updates: int, decay: float = 0.9999, tau: float = 2000.0) -> float:
    """Decay ramps up from 0 so early, poor weights are forgotten fast."""
    return decay * (1 - math.exp(-updates / tau))


class ModelEMA:
    """Keeps ``ema``, an eval-mode copy whose float state (params and BN buffers) trails the trained model."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.ema = copy.deepcopy(unwrap_model(model)).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.base_decay = decay
        self.tau = tau
        self.updates = updates
        self._pairs: tuple | None = None  # (model, EMA floats, model floats, integer pairs), see _match

    def decay(self, updates: int) -> float:
        return ema_decay(updates, self.base_decay, self.tau)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend after an optimizer step: ema = d·ema + (1 − d)·model; integer buffers are copied."""
        self.updates += 1
        d = self.decay(self.updates)
        source = unwrap_model(model)
        if self._pairs is None or self._pairs[0] is not source:
            self._pairs = (source, *self._match(source))
        _, ema_floats, model_floats, ints = self._pairs
        for dst, src in ints:
            dst.copy_(src)
        if ema_floats:
            torch._foreach_mul_(ema_floats, d)
            torch._foreach_add_(ema_floats, model_floats, alpha=1 - d)

    def _match(self, source: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple]]:
        """The EMA's tensors beside the model's, looked up once (a state_dict per step costs host time on a fast
        GPU). Parameters and buffers themselves are kept, so a module whose ``.data`` is replaced stays matched."""
        theirs = {**dict(source.named_parameters()), **dict(source.named_buffers())}
        ema_floats, model_floats, ints = [], [], []
        for name, value in [*self.ema.named_parameters(), *self.ema.named_buffers()]:
            new = theirs[name]
            if value.dtype.is_floating_point:
                if new.dtype != value.dtype:
                    raise TypeError(f"EMA of {name}: the model's {new.dtype} differs from the EMA's {value.dtype}")
                ema_floats.append(value)
                model_floats.append(new)
            else:
                ints.append((value, new))
        return ema_floats, model_floats, ints

    def update_attr(self, model: nn.Module, include: Iterable[str] = ()) -> None:
        """Copy plain attributes (nc, names, hyp, ...) that validation and checkpoints read from the EMA."""
        source = unwrap_model(model)
        for name in include:
            if hasattr(source, name):
                setattr(self.ema, name, getattr(source, name))

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ema.load_state_dict(state["ema"])
        self.updates = int(state["updates"])
