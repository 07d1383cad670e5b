import logging
import math

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from yolo_exp.models.arch import conf_dir
from yolo_exp.models.summary import gflops, layer_table
from yolo_exp.models.yolo import DetectionModel, build_model

P5_ANCHORS_PX = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]


@pytest.fixture(scope="module")
def yolov5n() -> DetectionModel:
    torch.manual_seed(0)
    return build_model("yolov5n", nc=80)


def test_strides_anchors_and_attributes(yolov5n):
    m = yolov5n
    assert m.stride.tolist() == [8.0, 16.0, 32.0]
    assert m.detect.anchors.shape == (3, 3, 2)
    torch.testing.assert_close(m.detect.anchors * m.stride.view(-1, 1, 1),
                               torch.tensor(P5_ANCHORS_PX, dtype=torch.float32).view(3, 3, 2))
    assert m.nc == 80 and len(m.names) == 80 and m.arch["name"] == "yolov5n"
    assert dict(m.named_buffers())["model.24.anchors"] is m.detect.anchors


def test_p6_strides():
    m = build_model("yolov5n6", nc=80)
    assert m.stride.tolist() == [8.0, 16.0, 32.0, 64.0] and m.detect.anchors.shape == (4, 3, 2)


def test_bias_init_priors(yolov5n):
    for conv, s in zip(yolov5n.detect.m, yolov5n.stride.tolist()):
        b = conv.bias.detach().view(3, -1)
        bound = 1 / math.sqrt(conv.in_channels)  # PyTorch's default bias init range before the priors
        assert (b[:, 4] - math.log(8 / (640 / s) ** 2)).abs().max() <= bound
        assert (b[:, 5:] - math.log(0.6 / (80 - 0.99999))).abs().max() <= bound


@pytest.mark.parametrize("nc,shape", [(80, (320, 320)), (3, (256, 320)), (1, (96, 160))])
def test_output_shapes(nc, shape):
    m = build_model("yolov5n", nc=nc)
    x = torch.rand(2, 3, *shape)
    raw = m(x)
    assert [r.shape for r in raw] == [(2, 3, shape[0] // s, shape[1] // s, nc + 5) for s in (8, 16, 32)]
    m.eval()
    with torch.no_grad():
        decoded, raw_eval = m(x)
    n = sum(3 * (shape[0] // s) * (shape[1] // s) for s in (8, 16, 32))
    assert decoded.shape == (2, n, nc + 5) and len(raw_eval) == 3
    assert ((decoded[..., 4:] >= 0) & (decoded[..., 4:] <= 1)).all()


def test_decode_formula(yolov5n):
    """All-zero logits: sigmoid 0.5, so boxes sit at cell centres with exactly the anchor size."""
    m = build_model("yolov5n", nc=2).eval()
    for conv in m.detect.m:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    with torch.no_grad():
        decoded, _ = m(torch.rand(1, 3, 64, 96))
    level0 = decoded[0, : 3 * 8 * 12].view(3, 8, 12, 7)
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(12.0), indexing="ij")
    torch.testing.assert_close(level0[0, ..., 0], (xs + 0.5) * 8)
    torch.testing.assert_close(level0[2, ..., 1], (ys + 0.5) * 8)
    torch.testing.assert_close(level0[1, 3, 4, 2:4], torch.tensor([16.0, 30.0]))
    assert torch.all(level0[..., 4:] == 0.5)


def test_fuse_keeps_outputs():
    torch.manual_seed(1)
    m = build_model("yolov5n", nc=80)
    with torch.no_grad():  # a few training passes give the BN layers non-trivial statistics
        for _ in range(3):
            m(torch.rand(2, 3, 128, 128))
    m.eval()
    x = torch.rand(1, 3, 160, 128)
    with torch.no_grad():
        ref = m(x)[0]
        out = m.fuse()(x)[0]
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_anchor_levels_flipped_to_stride_order(tmp_path):
    arch = yaml.safe_load((conf_dir() / "model" / "yolov5n.yaml").read_text())
    arch["anchors"] = P5_ANCHORS_PX[::-1]  # written large-to-small
    m = build_model(arch, nc=80)
    torch.testing.assert_close(m.detect.anchors_px, torch.tensor(P5_ANCHORS_PX, dtype=torch.float32).view(3, 3, 2))


def test_set_nc_rebuilds_only_detect_outputs(yolov5n):
    m = build_model("yolov5n", nc=80)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.set_nc(3, names=["a", "b", "c"])
    after = m.state_dict()
    changed = {k for k in before if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])}
    assert changed == {f"model.24.m.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    assert m.nc == 3 and m.names == ["a", "b", "c"]
    assert m(torch.zeros(1, 3, 64, 64))[0].shape[-1] == 8


def test_info_summary_line_and_table(caplog):
    m = build_model("yolov5s", nc=80)
    with caplog.at_level(logging.INFO):
        info = m.info()
    assert info["layers"] == 214 and info["parameters"] == info["gradients"] == 7_235_389
    assert "yolov5s summary: 214 layers, 7235389 parameters, 7235389 gradients, 16.5 GFLOPs" in caplog.text
    table = layer_table(m).splitlines()
    assert len(table) == 26
    assert table[25].split()[:5] == ["24", "[17,", "20,", "23]", "1"] and "Detect" in table[25]


@pytest.mark.parametrize("name,expected", [("yolov5n", 4.5), ("yolov5s", 16.5), ("yolov5m", 49.0),
                                           pytest.param("yolov5l", 109.1, marks=pytest.mark.slow),
                                           pytest.param("yolov5x", 205.7, marks=pytest.mark.slow)])
def test_gflops_match_published(name, expected):
    m = build_model(name, nc=80)
    g = gflops(m)
    assert abs(g - expected) < 0.06  # the published figures are rounded to 0.1
    assert gflops(m.eval().fuse()) == pytest.approx(g)


def test_build_from_user_yaml_and_mapping(tmp_path):
    user = tmp_path / "tiny.yaml"
    user.write_text(
        "defaults:\n  - base_model\n  - _self_\n"
        "name: tiny\ndepth_multiple: 1.0\nwidth_multiple: 1.0\nanchors: 2\nactivation: LeakyReLU\n"
        "backbone:\n"
        "  - [-1, 1, Conv, [16, 3, 2]]\n"
        "  - [-1, 1, Conv, [32, 3, 2]]\n"
        "  - [-1, 2, C3, [32]]\n"
        "  - [-1, 1, Conv, [64, 3, 2]]\n"
        "  - [-1, 1, SPP, [64, [3, 5]]]\n"
        "head:\n"
        "  - [-1, 1, Upsample, [null, 2, nearest]]\n"
        "  - [[-1, 2], 1, Concat, [1]]\n"
        "  - [[6, 4], 1, Detect, [nc, anchors]]\n")
    m = build_model(user, nc=4, ch=1)
    assert m.arch["name"] == "tiny" and "defaults" not in m.arch
    assert m.stride.tolist() == [4.0, 8.0] and m.detect.na == 2
    assert isinstance(m.model[0].act, torch.nn.LeakyReLU)
    assert [r.shape for r in m(torch.rand(1, 1, 64, 64))] == [(1, 2, 16, 16, 9), (1, 2, 8, 8, 9)]
    as_mapping = OmegaConf.to_container(OmegaConf.load(user))
    m2 = build_model(as_mapping, nc=4, ch=1)
    assert sum(p.numel() for p in m2.parameters()) == sum(p.numel() for p in m.parameters())
