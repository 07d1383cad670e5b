import pytest

from yolo_exp.models.arch import load_arch
from yolo_exp.models.blocks import Conv
from yolo_exp.models.builder import build_layers, make_divisible, scale_depth

# yolov5 README/notebook parameter counts at nc=80 (P5 exact; P6 as published, in millions)
P5_PARAMS = {"yolov5n": 1_872_157, "yolov5s": 7_235_389, "yolov5m": 21_190_557, "yolov5l": 46_563_709,
             "yolov5x": 86_749_405}
P6_PARAMS_M = {"yolov5n6": 3.2, "yolov5s6": 12.6, "yolov5m6": 35.7, "yolov5l6": 76.8, "yolov5x6": 140.7}


def test_scaling_rules():
    assert make_divisible(64 * 0.25) == 16 and make_divisible(1024 * 0.75) == 768 and make_divisible(20) == 24
    assert scale_depth(9, 0.33) == 3 and scale_depth(3, 0.33) == 1 and scale_depth(1, 0.33) == 1
    assert scale_depth(3, 1.33) == 4 and scale_depth(9, 0.67) == 6


def _param_counts(name: str) -> tuple[int, int]:
    """(unfused, BN-folded) parameter counts, without the forward passes a full model build does."""
    layers, _ = build_layers(load_arch(name), nc=80, ch=3)
    unfused = sum(p.numel() for p in layers.parameters())
    for m in layers.modules():
        if isinstance(m, Conv):
            m.fuse()
    return unfused, sum(p.numel() for p in layers.parameters())


@pytest.mark.parametrize("name", ["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x"])
def test_p5_parameter_counts_exact(name):
    assert _param_counts(name)[0] == P5_PARAMS[name]


@pytest.mark.parametrize("name", sorted(P6_PARAMS_M))
def test_p6_parameter_counts_match_published(name):
    # The README rounds the unfused count for n6..l6 but the fused one for x6 (140,730,220 in YOLOv5's log).
    counts = {round(n / 1e6, 1) for n in _param_counts(name)}
    assert P6_PARAMS_M[name] in counts


def test_layers_carry_yolov5_metadata():
    layers, save = build_layers(load_arch("yolov5s"), nc=80, ch=3)
    assert len(layers) == 25
    assert [m.i for m in layers] == list(range(25))
    assert layers[12].f == [-1, 6] and layers[12].type == "Concat"
    assert layers[24].f == [17, 20, 23] and layers[24].type == "Detect"
    assert layers[4].n == 2 and layers[4].args == [128, 128, 2]  # C3 repeats moved inside
    assert layers[0].np == 3520
    assert save == [4, 6, 10, 14, 17, 20, 23]


def test_unknown_module_names_the_known_ones():
    arch = load_arch("yolov5n")
    arch["backbone"][1] = [-1, 1, "Focus", [64, 3]]
    with pytest.raises(ValueError, match="layer 1: unknown module 'Focus'; known: Conv"):
        build_layers(arch, nc=80, ch=3)


def test_unknown_arch_name_lists_available():
    with pytest.raises(FileNotFoundError, match="unknown model 'yolov9'.*yolov5n6"):
        load_arch("yolov9")
