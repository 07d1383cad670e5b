"""Building blocks of the YOLOv5 architecture.

Submodule attribute names (``conv``, ``bn``, ``cv1``, ``m`` ...) are part of the contract: they make our
state_dict keys equal to YOLOv5's, so official weights transfer by plain name match.
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "SiLU": nn.SiLU,
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "Hardswish": nn.Hardswish,
    "Mish": nn.Mish,
    "GELU": nn.GELU,
    "Identity": nn.Identity,
}

# In place only where the backward reads the output: SiLU, Hardswish and Mish read their input, so autograd
# would clone it first, and an in-place SiLU costs a copy per layer in training (~3% of a yolov5n CPU step).
INPLACE_SAFE = frozenset({"ReLU", "LeakyReLU"})

Act = str | nn.Module | bool


def make_activation(name: Act) -> nn.Module:
    """Activation by registry name (a module passes through, False means none); LeakyReLU has slope 0.1.

    The builder makes one instance per model and hands it to every Conv: activations are stateless, and the
    shared instance gives YOLOv5's module count (214 layers for yolov5s).
    """
    if isinstance(name, nn.Module):
        return name
    if name is False or name is None:
        return nn.Identity()
    if name is True:
        name = "SiLU"
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    if name == "LeakyReLU":
        return nn.LeakyReLU(0.1, inplace=True)
    if name in INPLACE_SAFE:
        return ACTIVATIONS[name](inplace=True)
    return ACTIVATIONS[name]()


def same_padding(k: int, d: int = 1) -> int:
    """Padding that keeps the spatial size for stride 1 (odd kernels)."""
    k_eff = d * (k - 1) + 1
    return k_eff // 2


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation; ``fuse()`` folds the BN into a biased conv."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1,
                 d: int = 1, act: Act = "SiLU") -> None:
        super().__init__()
        pad = same_padding(k, d) if p is None else p
        self.conv = nn.Conv2d(c1, c2, k, s, pad, groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BN statistics into the conv weights (inference only)."""
        if self.bn is None:
            return
        conv, bn = self.conv, self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        # skip_init: no random initialisation, so fusing (done at every validation) leaves the global RNG alone
        fused = nn.utils.skip_init(nn.Conv2d, conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                   conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                                   device=conv.weight.device, dtype=conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        base = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_(bn.bias + (base - bn.running_mean) * scale)
        fused.requires_grad_(False)
        self.conv = fused
        self.bn = None


class Bottleneck(nn.Module):
    """1x1 -> 3x3 with a residual when shapes allow."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 act: Act = "SiLU") -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1, act=act)
        self.cv2 = Conv(c_, c2, 3, 1, g=g, act=act)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block: a bottleneck branch and a bypass branch joined by a 1x1 conv."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 act: Act = "SiLU") -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1, act=act)
        self.cv2 = Conv(c1, c_, 1, 1, act=act)
        self.cv3 = Conv(2 * c_, c2, 1, act=act)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0, act=act) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPP(nn.Module):
    """Spatial pyramid pooling with parallel max-pools of several sizes."""

    def __init__(self, c1: int, c2: int, k: tuple[int, ...] | list[int] = (5, 9, 13), act: Act = "SiLU") -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=act)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


class SPPF(nn.Module):
    """SPP(5, 9, 13) computed as three chained 5x5 max-pools: same output, less work."""

    def __init__(self, c1: int, c2: int, k: int = 5, act: Act = "SiLU") -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=act)
        self.cv2 = Conv(c_ * 4, c2, 1, 1, act=act)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    """Concatenate a list of feature maps along one dimension."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)
