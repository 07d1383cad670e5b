"""DetectionLoss against a deliberately plain float64 transcription of YOLOv5's loss (reference §3).

The reference below loops over offsets, anchors, targets and cells with Python scalars and the math module,
written from the behaviour text, so the vectorised code is checked by something that shares none of its shape.
"""
from __future__ import annotations

import math

import pytest
import torch

from yolo_exp.loss.detect import DetectionLoss, _last_wins, assign_targets, scale_hyp_gains

STRIDES_P5 = (8, 16, 32)
ANCHORS_P5_PX = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
STRIDES_P6 = (8, 16, 32, 64)
ANCHORS_P6_PX = (
    ((19, 27), (44, 40), (38, 94)),
    ((96, 68), (86, 152), (180, 137)),
    ((140, 301), (303, 264), (238, 542)),
    ((436, 615), (739, 380), (925, 792)),
)
HYP = {"box": 0.05, "obj": 1.0, "cls": 0.5, "cls_pw": 1.0, "obj_pw": 1.0, "fl_gamma": 0.0, "anchor_t": 4.0}


# ----------------------------------------------------------------------------------------------------------
# Plain reference
# ----------------------------------------------------------------------------------------------------------
def ref_log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def ref_bce(x: float, y: float, pos_weight: float, gamma: float) -> float:
    loss = -(pos_weight * y * ref_log_sigmoid(x) + (1 - y) * ref_log_sigmoid(-x))
    if gamma > 0:
        p = 1 / (1 + math.exp(-x))
        p_t = y * p + (1 - y) * (1 - p)
        alpha = y * 0.25 + (1 - y) * 0.75
        loss *= alpha * (1 - p_t) ** gamma
    return loss


def ref_ciou(b1: tuple, b2: tuple, eps: float = 1e-7) -> float:
    """YOLOv5 bbox_iou(xywh=True, CIoU=True) as written in the reference text."""
    x1, y1, w1, h1 = b1
    x2, y2, w2, h2 = b2
    l1, r1, t1, d1 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
    l2, r2, t2, d2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    inter = max(min(r1, r2) - max(l1, l2), 0.0) * max(min(d1, d2) - max(t1, t2), 0.0)
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    c2 = (max(r1, r2) - min(l1, l2)) ** 2 + (max(d1, d2) - min(t1, t2)) ** 2 + eps
    rho2 = ((l2 + r2 - l1 - r1) ** 2 + (t2 + d2 - t1 - d1) ** 2) / 4
    v = 4 / math.pi**2 * (math.atan(w2 / h2) - math.atan(w1 / h1)) ** 2
    alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def ref_matches(targets: list, anchors: list, ny: int, nx: int, anchor_t: float) -> list:
    """(img, anchor, gj, gi, tbox, anchor_wh, cls) in YOLOv5's order: offset, then anchor, then target."""
    out = []
    offsets = ((0, 0), (0.5, 0), (0, 0.5), (-0.5, 0), (0, -0.5))
    for k, (ox, oy) in enumerate(offsets):
        for a, (aw, ah) in enumerate(anchors):
            for img, c, x, y, w, h in targets:
                gx, gy, gw, gh = x * nx, y * ny, w * nx, h * ny
                if not max(gw / aw, aw / gw, gh / ah, ah / gh) < anchor_t:
                    continue
                fx, fy = nx - gx, ny - gy
                extra = {1: gx % 1 < 0.5 and gx > 1, 2: gy % 1 < 0.5 and gy > 1,
                         3: fx % 1 < 0.5 and fx > 1, 4: fy % 1 < 0.5 and fy > 1}
                if k and not extra[k]:
                    continue
                gi = min(max(int(gx - ox), 0), nx - 1)
                gj = min(max(int(gy - oy), 0), ny - 1)
                out.append((int(img), a, gj, gi, (gx - gi, gy - gj, gw, gh), (aw, ah), int(c)))
    return out


def ref_loss(preds: list[torch.Tensor], targets: torch.Tensor, anchors: list, nc: int, hyp: dict) -> tuple:
    nl = len(preds)
    balance = [4.0, 1.0, 0.4] if nl == 3 else [4.0, 1.0, 0.25, 0.06, 0.02]
    ls = hyp.get("label_smoothing", 0.0)
    cp, cn = 1 - 0.5 * ls, 0.5 * ls
    g, rows = hyp["fl_gamma"], targets.tolist()
    lbox = lobj = lcls = 0.0
    for level, pred in enumerate(preds):
        bs, na, ny, nx, _ = pred.shape
        p = pred.tolist()
        tobj = {}
        matches = ref_matches(rows, anchors[level], ny, nx, hyp["anchor_t"])
        box_terms, cls_terms = [], []
        for img, a, gj, gi, tbox, (aw, ah), c in matches:
            v = p[img][a][gj][gi]
            sig = [1 / (1 + math.exp(-z)) for z in v[:4]]
            pbox = (sig[0] * 2 - 0.5, sig[1] * 2 - 0.5, (sig[2] * 2) ** 2 * aw, (sig[3] * 2) ** 2 * ah)
            ciou = ref_ciou(pbox, tbox)
            box_terms.append(1 - ciou)
            tobj[(img, a, gj, gi)] = max(ciou, 0.0)  # later matches overwrite
            if nc > 1:
                for j in range(nc):
                    cls_terms.append(ref_bce(v[5 + j], cp if j == c else cn, hyp["cls_pw"], g))
        if box_terms:
            lbox += sum(box_terms) / len(box_terms)
        if cls_terms:
            lcls += sum(cls_terms) / len(cls_terms)
        obj_terms = [
            ref_bce(p[b][a][j][i][4], tobj.get((b, a, j, i), 0.0), hyp["obj_pw"], g)
            for b in range(bs) for a in range(na) for j in range(ny) for i in range(nx)
        ]
        lobj += balance[level] * sum(obj_terms) / len(obj_terms)
    lbox, lobj, lcls = lbox * hyp["box"], lobj * hyp["obj"], lcls * hyp["cls"]
    return (lbox + lobj + lcls) * preds[0].shape[0], (lbox, lobj, lcls)


# ----------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------
def grid_anchors(anchors_px: tuple, strides: tuple) -> list:
    return [[(w / s, h / s) for w, h in level] for level, s in zip(anchors_px, strides)]


def make_preds(gen: torch.Generator, bs: int, shape_hw: tuple, strides: tuple, nc: int) -> list[torch.Tensor]:
    h, w = shape_hw
    return [torch.randn(bs, 3, h // s, w // s, 5 + nc, generator=gen, dtype=torch.float64) * 2 for s in strides]


def random_targets(gen: torch.Generator, n: int, bs: int, nc: int) -> torch.Tensor:
    img = torch.randint(0, bs, (n, 1), generator=gen).double()
    cls = torch.randint(0, nc, (n, 1), generator=gen).double()
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 0.8 + 0.02
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return torch.cat((img, cls, xy, wh), 1)


def check(preds: list, targets: torch.Tensor, anchors: list, nc: int, hyp: dict) -> None:
    ours = DetectionLoss(torch.tensor(anchors, dtype=torch.float64), nc, hyp)
    total, items = ours(preds, targets)
    ref_total, ref_items = ref_loss(preds, targets, anchors, nc, hyp)
    assert total.dtype == torch.float64 and total.shape == () and items.shape == (3,)
    assert total.item() == pytest.approx(ref_total, abs=1e-6, rel=1e-9)
    assert items.tolist() == pytest.approx(list(ref_items), abs=1e-6, rel=1e-9)


P5 = grid_anchors(ANCHORS_P5_PX, STRIDES_P5)
P6 = grid_anchors(ANCHORS_P6_PX, STRIDES_P6)


# ----------------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_batches_match_reference(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    nc = 4
    preds = make_preds(gen, 2, (64, 96), STRIDES_P5, nc)  # non-square grids (rect batches)
    targets = random_targets(gen, 12, 2, nc)
    # crowd several targets on one cell with one anchor so duplicates must resolve last-wins
    crowd = torch.tensor([[0, 1, 0.30, 0.30, 0.20, 0.25], [0, 2, 0.31, 0.32, 0.22, 0.2]], dtype=torch.float64)
    check(preds, torch.cat((targets, crowd)), P5, nc, HYP)


def test_no_targets() -> None:
    gen = torch.Generator().manual_seed(3)
    preds = make_preds(gen, 2, (64, 64), STRIDES_P5, 3)
    targets = torch.zeros(0, 6, dtype=torch.float64)
    check(preds, targets, P5, 3, HYP)
    _, items = DetectionLoss(torch.tensor(P5), 3, HYP)(preds, targets)
    assert items[0] == 0 and items[2] == 0 and items[1] > 0


def test_targets_on_grid_borders_and_cell_edges() -> None:
    gen = torch.Generator().manual_seed(4)
    preds = make_preds(gen, 1, (64, 64), STRIDES_P5, 3)
    edges = [0.0, 1.0, 0.25, 0.5, 0.125, 1 / 16, 0.75 + 1 / 16, 1 - 1e-9]
    rows = [[0, i % 3, x, y, 0.3, 0.2] for i, (x, y) in enumerate(zip(edges, reversed(edges)))]
    check(preds, torch.tensor(rows, dtype=torch.float64), P5, 3, HYP)


def test_tiny_and_huge_boxes() -> None:
    gen = torch.Generator().manual_seed(5)
    preds = make_preds(gen, 2, (64, 64), STRIDES_P5, 2)
    rows = [[0, 0, 0.5, 0.5, 1e-4, 1e-4], [1, 1, 0.5, 0.5, 1.0, 1.0], [1, 0, 0.4, 0.6, 0.02, 0.9],
            [0, 1, 0.2, 0.7, 0.015, 0.02]]
    check(preds, torch.tensor(rows, dtype=torch.float64), P5, 2, HYP)


def test_single_class_has_no_class_loss() -> None:
    gen = torch.Generator().manual_seed(6)
    preds = make_preds(gen, 2, (64, 64), STRIDES_P5, 1)
    targets = random_targets(gen, 6, 2, 1)
    check(preds, targets, P5, 1, HYP)
    _, items = DetectionLoss(torch.tensor(P5), 1, HYP)(preds, targets)
    assert items[2] == 0 and items[0] > 0


@pytest.mark.parametrize(
    "extra",
    [{"label_smoothing": 0.1}, {"fl_gamma": 1.5}, {"cls_pw": 1.7, "obj_pw": 0.6, "anchor_t": 2.91}],
    ids=["label_smoothing", "focal", "pos_weights"],
)
def test_hyp_variants(extra: dict) -> None:
    gen = torch.Generator().manual_seed(7)
    preds = make_preds(gen, 2, (64, 64), STRIDES_P5, 5)
    check(preds, random_targets(gen, 10, 2, 5), P5, 5, {**HYP, **extra})


def test_p6_four_levels() -> None:
    gen = torch.Generator().manual_seed(8)
    preds = make_preds(gen, 2, (128, 128), STRIDES_P6, 3)
    check(preds, random_targets(gen, 8, 2, 3), P6, 3, HYP)


def test_neighbour_cells_and_last_wins() -> None:
    assert sorted(_last_wins(torch.tensor([5, 2, 5, 7, 2, 5])).tolist()) == [3, 4, 5]
    # one target near a cell's lower-left edges on a 4x4 grid: centre cell plus left and up neighbours
    t = assign_targets(torch.tensor([[0.0, 0.0, 0.3, 0.3, 0.25, 0.25]]), torch.tensor([[1.0, 1.0]]), 4, 4, 4.0)
    assert list(zip(t.gj.tolist(), t.gi.tolist())) == [(1, 1), (1, 0), (0, 1)]
    assert t.box[:, :2].flatten().tolist() == pytest.approx([0.2, 0.2, 1.2, 0.2, 0.2, 1.2])


def test_scale_hyp_gains() -> None:
    base = {**HYP, "lr0": 0.01}
    same = scale_hyp_gains(base, nc=80, nl=3, imgsz=640)
    assert same == base and same is not base
    scaled = scale_hyp_gains(base, nc=20, nl=4, imgsz=1280)
    assert scaled["box"] == pytest.approx(0.05 * 0.75)
    assert scaled["cls"] == pytest.approx(0.5 * 0.25 * 0.75)
    assert scaled["obj"] == pytest.approx(1.0 * 4 * 0.75)
    assert scaled["lr0"] == 0.01 and base["box"] == 0.05


def test_gradients_flow_and_loss_decreases() -> None:
    gen = torch.Generator().manual_seed(9)
    preds = [p.float().requires_grad_() for p in make_preds(gen, 2, (64, 64), STRIDES_P5, 3)]
    targets = random_targets(gen, 6, 2, 3).float()
    loss_fn = DetectionLoss(torch.tensor(P5), 3, HYP)
    opt = torch.optim.Adam(preds, lr=0.05)
    history = []
    for _ in range(25):
        total, items = loss_fn(preds, targets)
        opt.zero_grad()
        total.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in preds)
        history.append(items.clone())
        opt.step()
    assert history[-1].sum() < 0.7 * history[0].sum()
    assert (history[-1] < history[0]).all()  # box, obj and cls each improve


def test_float32_and_cpu_autocast_compute_in_float32() -> None:
    gen = torch.Generator().manual_seed(10)
    preds64 = make_preds(gen, 2, (64, 64), STRIDES_P5, 3)
    targets = random_targets(gen, 6, 2, 3)
    loss_fn = DetectionLoss(torch.tensor(P5), 3, HYP)
    ref, _ = loss_fn(preds64, targets)
    total32, _ = loss_fn([p.float() for p in preds64], targets.float())
    assert total32.dtype == torch.float32
    assert total32.item() == pytest.approx(ref.item(), rel=1e-5)
    half = [p.bfloat16() for p in preds64]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total_ac, _ = loss_fn(half, targets.float())
    expected, _ = loss_fn([p.float() for p in half], targets.float())
    assert total_ac.dtype == torch.float32
    assert total_ac.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.gpu
def test_cuda_and_cuda_autocast_match_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gen = torch.Generator().manual_seed(11)
    preds = [p.float() for p in make_preds(gen, 4, (128, 128), STRIDES_P5, 6)]
    targets = random_targets(gen, 40, 4, 6).float()
    loss_fn = DetectionLoss(torch.tensor(P5), 6, HYP)
    cpu_total, cpu_items = loss_fn(preds, targets)
    cuda_preds = [p.cuda() for p in preds]
    gpu_total, gpu_items = loss_fn(cuda_preds, targets.cuda())
    assert gpu_total.item() == pytest.approx(cpu_total.item(), rel=1e-5)
    assert torch.allclose(gpu_items.cpu(), cpu_items, rtol=1e-5)
    with torch.autocast("cuda", dtype=torch.float16):
        amp_total, _ = loss_fn([p.half() for p in cuda_preds], targets.cuda())
    expected, _ = loss_fn([p.half().float() for p in cuda_preds], targets.cuda())
    assert amp_total.dtype == torch.float32
    assert amp_total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_ciou_gradient_stays_finite_when_predicted_height_underflows():
    from yolo_exp.loss.detect import complete_iou

    pred = torch.tensor([[0.5, 0.5, 0.3, 0.0], [0.5, 0.5, 0.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.5, 0.5, 0.3, 0.4], [0.4, 0.6, 0.2, 0.1]])
    complete_iou(pred, target).sum().backward()
    assert torch.isfinite(pred.grad).all()
