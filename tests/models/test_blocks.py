import pytest
import torch
from torch import nn

from yolo_exp.models.blocks import C3, SPP, SPPF, Conv, make_activation


def _randomise_bn(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_conv_shapes_padding_and_bn_settings():
    conv = Conv(3, 16, k=6, s=2, p=2)
    assert conv(torch.zeros(1, 3, 64, 48)).shape == (1, 16, 32, 24)
    assert Conv(8, 8, k=3)(torch.zeros(1, 8, 13, 7)).shape == (1, 8, 13, 7)  # 'same' autopad
    assert conv.conv.bias is None
    assert conv.bn.eps == 1e-3 and conv.bn.momentum == 0.03


def test_conv_fuse_matches_unfused():
    conv = Conv(8, 16, k=3, s=1)
    _randomise_bn(conv)
    conv.eval()
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        ref = conv(x)
        conv.fuse()
        out = conv(x)
    assert conv.bn is None and conv.conv.bias is not None
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_sppf_equals_spp_with_same_weights():
    torch.manual_seed(0)
    sppf, spp = SPPF(16, 16, 5).eval(), SPP(16, 16, (5, 9, 13)).eval()
    spp.load_state_dict(sppf.state_dict())
    x = torch.randn(1, 16, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(sppf(x), spp(x))


def test_c3_residuals_only_with_shortcut():
    assert all(b.add for b in C3(32, 32, n=2).m)
    assert not any(b.add for b in C3(32, 32, n=2, shortcut=False).m)


def test_activation_registry():
    assert isinstance(make_activation("SiLU"), nn.SiLU)
    leaky = make_activation("LeakyReLU")
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.1
    assert isinstance(make_activation(False), nn.Identity)
    shared = nn.ReLU()
    assert make_activation(shared) is shared
    with pytest.raises(ValueError, match="unknown activation 'Swish'.*SiLU"):
        make_activation("Swish")


@pytest.mark.parametrize("name", ["SiLU", "ReLU", "LeakyReLU", "Hardswish", "Mish"])
def test_training_activations_never_clone_their_input(name):
    """An in-place activation whose backward reads its input makes autograd copy every feature map."""
    act = make_activation(name)
    x = torch.randn(4, 8, requires_grad=True)
    with torch.profiler.profile() as prof:
        act(x * 2.0).sum().backward()
    assert "aten::clone" not in {e.name for e in prof.events()}
    assert getattr(act, "inplace", False) == (name in ("ReLU", "LeakyReLU"))
