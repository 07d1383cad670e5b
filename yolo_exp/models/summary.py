"""Model summary: layer/parameter counts, GFLOPs and the per-layer table YOLOv5 prints."""
from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

LOGGER = logging.getLogger(__name__)


@torch.no_grad()
def gflops(model: nn.Module, imgsz: int | tuple[int, int] = 640) -> float:
    """GFLOPs (2 x MACs) of one image, where a BatchNorm (eval: scale and shift) or a conv bias costs one MAC
    per output element. BN folding then leaves the figure unchanged, and it matches the published YOLOv5
    table (4.5/16.5/49.0/109.1/205.7 for n..x). Counted at a stride-sized input and scaled to ``imgsz``:
    conv cost is linear in pixels, so the small pass is exact and cheap."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    s = max(int(model.stride.max()), 32)
    ch = model.model[0].conv.in_channels
    p = next(model.parameters())
    affine_macs = [0]

    def count_outputs(_m: nn.Module, _x: Any, y: torch.Tensor) -> None:
        affine_macs[0] += y.numel()

    hooks = [m.register_forward_hook(count_outputs) for m in model.modules()
             if isinstance(m, nn.BatchNorm2d) or (isinstance(m, nn.Conv2d) and m.bias is not None)]
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, ch, s, s, device=p.device, dtype=p.dtype))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return (counter.get_total_flops() + 2 * affine_macs[0]) / 1e9 * (h / s) * (w / s)


def model_info(model: nn.Module, imgsz: int = 640, verbose: bool = False,
               log: logging.Logger = LOGGER) -> dict[str, Any]:
    """Counts as YOLOv5 reports them; logs the one-line summary (and the layer table when verbose)."""
    info = {
        "layers": len(list(model.modules())),
        "parameters": sum(p.numel() for p in model.parameters()),
        "gradients": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "gflops": gflops(model, imgsz),
    }
    if verbose:
        log.info("\n%s", layer_table(model))
    name = getattr(model, "arch", {}).get("name", "Model")
    log.info("%s summary: %d layers, %d parameters, %d gradients, %.1f GFLOPs",
             name, info["layers"], info["parameters"], info["gradients"], info["gflops"])
    return info


def layer_table(model: nn.Module) -> str:
    """One row per architecture layer: index, from, repeats, params, module, resolved arguments."""
    rows = [f"{'':>3}{'from':>18}{'n':>3}{'params':>10}  {'module':<12}{'arguments':<30}"]
    for m in model.model:
        np_ = sum(p.numel() for p in m.parameters())
        rows.append(f"{m.i:>3}{str(m.f):>18}{m.n:>3}{np_:10.0f}  {m.type:<12}{str(m.args):<30}")
    return "\n".join(rows)
