import pytest
import torch

from yolo_exp.models.detect import to_cells
from yolo_exp.models.yolo import build_model


@pytest.mark.parametrize("channels_last", [False, True])
def test_to_cells_layout_and_gradient(channels_last):
    na, no, ny, nx = 3, 7, 5, 4
    x = torch.arange(2 * na * no * ny * nx, dtype=torch.float32).view(2, na * no, ny, nx)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    out = to_cells(x, na)
    assert out.shape == (2, na, ny, nx, no) and out.is_contiguous()
    b, a, j, i, o = 1, 2, 3, 1, 5
    assert out[b, a, j, i, o] == x[b, a * no + o, j, i]
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    out.backward(g)
    assert x.grad[b, a * no + o, j, i] == g[b, a, j, i, o]
    assert x.grad.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_channels_last_model_matches_nchw():
    """The CPU fast path (channels_last) changes only float rounding: outputs and gradients agree."""
    torch.manual_seed(0)
    ref = build_model("yolov5n", nc=4).train()
    fast = build_model("yolov5n", nc=4).train()
    fast.load_state_dict(ref.state_dict())
    fast = fast.to(memory_format=torch.channels_last)
    imgs = torch.rand(2, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    out_ref = ref(imgs)
    out_fast = fast(imgs.contiguous(memory_format=torch.channels_last))
    for a, b in zip(out_ref, out_fast):
        assert b.is_contiguous()
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    sum(o.square().mean() for o in out_ref).backward()
    sum(o.square().mean() for o in out_fast).backward()
    for (name, p), q in zip(ref.named_parameters(), fast.parameters()):  # summation order differs: ~1e-4
        assert (q.grad - p.grad).norm() <= 1e-3 * p.grad.norm(), name
