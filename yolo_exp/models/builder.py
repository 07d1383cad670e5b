"""Turn the ``[from, repeats, module, args]`` rows of an architecture into modules.

Module names resolve through an explicit registry (no ``eval``); the only symbolic arguments are ``nc`` and
``anchors``. Scaling follows YOLOv5: repeats ``max(round(n * depth), 1)`` when ``n > 1``, output channels
``ceil(c * width / 8) * 8``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from yolo_exp.files.limits import MAX_INPUT_CHANNELS, MAX_PARAMS, MAX_REPEATS, short_repr

from yolo_exp.models.blocks import C3, SPP, SPPF, Bottleneck, Concat, Conv, make_activation
from yolo_exp.models.detect import Detect, Segment

Role = Literal["conv", "csp", "concat", "detect", "segment", "same"]


@dataclass(frozen=True)
class ModuleSpec:
    """How the builder feeds a module: ``conv`` takes (c_in, c_out, *args, act=), ``csp`` also gets the repeat
    count as its third argument, ``concat`` sums input channels, ``detect`` takes (nc, anchors, [c_in...]),
    ``segment`` also (mask coefficients, prototypes scaled by the width), ``same`` keeps the channel count and
    gets the yaml args verbatim."""

    cls: type[nn.Module]
    role: Role


MODULES: Mapping[str, ModuleSpec] = {
    "Conv": ModuleSpec(Conv, "conv"),
    "Bottleneck": ModuleSpec(Bottleneck, "conv"),
    "SPP": ModuleSpec(SPP, "conv"),
    "SPPF": ModuleSpec(SPPF, "conv"),
    "C3": ModuleSpec(C3, "csp"),
    "Concat": ModuleSpec(Concat, "concat"),
    "Upsample": ModuleSpec(nn.Upsample, "same"),
    "MaxPool2d": ModuleSpec(nn.MaxPool2d, "same"),
    "Identity": ModuleSpec(nn.Identity, "same"),
    "Detect": ModuleSpec(Detect, "detect"),
    "Segment": ModuleSpec(Segment, "segment"),
}


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= x (channel counts stay hardware friendly)."""
    return math.ceil(x / divisor) * divisor


def scale_depth(n: int, depth_multiple: float) -> int:
    return max(round(n * depth_multiple), 1) if n > 1 else n


def _resolve_args(args: list[Any], nc: int, anchors: Any) -> list[Any]:
    """Names YOLOv5's yamls use as arguments; 'None' too, since YOLOv5 writes it bare (a string to safe_load)."""
    symbols = {"nc": nc, "anchors": anchors, "None": None}
    return [symbols[a] if isinstance(a, str) and a in symbols else a for a in args]


def _in_channels(f: int | list[int], channels: list[int]) -> list[int]:
    """Channels of the layers a row reads from; ``channels[0]`` is the image, layer j is ``channels[j + 1]``."""
    idx = [f] if isinstance(f, int) else list(f)
    return [channels[j] if j < 0 else channels[j + 1] for j in idx]


def build_layers(arch: Mapping[str, Any], nc: int, ch: int,
                 registry: Mapping[str, ModuleSpec] = MODULES) -> tuple[nn.Sequential, list[int]]:
    """The layer stack plus the indices whose outputs later rows read (kept during forward).

    An architecture is data (a checkpoint carries its own), so it is first built on the meta device, which holds
    no memory, and refused when its multiples ask for more than MAX_PARAMS parameters (or its input for more than
    MAX_INPUT_CHANNELS channels: the stride measurement runs an image of that many through it)."""
    if not 1 <= ch <= MAX_INPUT_CHANNELS:
        raise ValueError(f"the architecture takes {ch:,} input channels; expected 1 to {MAX_INPUT_CHANNELS}")
    with torch.device("meta"):
        planned = sum(p.numel() for p in _layers(arch, nc, ch, registry)[0].parameters())
    if planned > MAX_PARAMS:
        raise ValueError(f"the architecture asks for {planned:,} parameters ({planned * 4 / 1e9:,.1f} GB as float32),"
                         f" over the limit of {MAX_PARAMS:,}: depth_multiple, width_multiple, channels or nc out of "
                         "range")
    return _layers(arch, nc, ch, registry)


def _layers(arch: Mapping[str, Any], nc: int, ch: int,
            registry: Mapping[str, ModuleSpec]) -> tuple[nn.Sequential, list[int]]:
    gd, gw = float(arch["depth_multiple"]), float(arch["width_multiple"])
    act = make_activation(arch.get("activation") or "SiLU")
    rows = list(arch["backbone"]) + list(arch["head"])
    channels = [ch]
    layers: list[nn.Module] = []
    save: set[int] = set()
    for i, row in enumerate(rows):
        if len(row) != 4:
            raise ValueError(f"layer {i}: expected [from, repeats, module, args], got {short_repr(row)}")
        f, n, name, args = row
        name = name.removeprefix("nn.")  # YOLOv5's yamls name torch modules as nn.Upsample etc.
        if name not in registry:
            raise ValueError(f"layer {i}: unknown module {short_repr(name)}; known: {', '.join(registry)}")
        spec = registry[name]
        args = _resolve_args(list(args or []), nc, arch["anchors"])
        c_in = _in_channels(f, channels)
        n = scale_depth(int(n), gd)
        if not 1 <= n <= MAX_REPEATS:
            raise ValueError(f"layer {i}: {n:,} repeats (depth_multiple {gd:g}); expected 1 to {MAX_REPEATS:,}")
        kwargs: dict[str, Any] = {}
        if spec.role in ("conv", "csp"):
            c2 = make_divisible(args[0] * gw)
            args = [c_in[0], c2, *args[1:]]
            kwargs["act"] = act
            if spec.role == "csp":
                args.insert(2, n)
                n = 1
        elif spec.role == "concat":
            c2 = sum(c_in)
        elif spec.role == "detect":
            args = [*args[:2], c_in]
            c2 = 0
        elif spec.role == "segment":  # [nc, anchors, nm, npr]: YOLOv5 scales the prototypes by the width
            nm, npr = (list(args[2:4]) + [32, 256][len(args[2:4]):])
            args, kwargs["act"], c2 = [*args[:2], c_in, nm, make_divisible(npr * gw)], act, 0
        else:
            c2 = c_in[0]
        module = nn.Sequential(*(spec.cls(*args, **kwargs) for _ in range(n))) if n > 1 else spec.cls(*args, **kwargs)
        module.i, module.f, module.type = i, f, name
        module.np = sum(p.numel() for p in module.parameters())
        module.args = args
        module.n = n if spec.role != "csp" else args[2]
        layers.append(module)
        save.update(j % i for j in ([f] if isinstance(f, int) else f) if j != -1)
        channels.append(c2)
    if not isinstance(layers[-1], Detect):
        raise ValueError("the last layer must be Detect or Segment")
    return nn.Sequential(*layers), sorted(save)
