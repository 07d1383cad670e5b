"""Instance-mask helpers: rasterised polygons, YOLOv5's overlap index mask, masks from prototypes, mask IoU."""
from __future__ import annotations

import numpy as np
import torch

from yolo_exp.ops.masks import crop_mask, mask_iou, masks_from_protos, overlap_mask, polygon_mask, polygon_masks

SQUARE = np.array([[8, 8], [40, 8], [40, 40], [8, 40]], np.float32)  # 32 x 32 pixels
SMALL = np.array([[24, 24], [32, 24], [32, 32], [24, 32]], np.float32)  # 8 x 8, inside SQUARE


def test_polygon_mask_at_full_and_quarter_size():
    full = polygon_mask((64, 64), SQUARE)
    assert full.dtype == np.uint8 and set(np.unique(full)) == {0, 1}
    assert abs(int(full.sum()) - 33 * 33) <= 33 * 2  # fillPoly includes the outline pixels
    quarter = polygon_mask((64, 64), SQUARE, downsample=4)
    assert quarter.shape == (16, 16) and abs(int(quarter.sum()) - 8 * 8) <= 2 * 9  # within a pixel of 1/4 scale
    assert polygon_masks((64, 64), [], 4).shape == (0, 16, 16)
    assert polygon_mask((64, 64), SQUARE[:2]).sum() == 0  # a degenerate polygon covers nothing


def test_polygon_points_fill_the_pixel_that_holds_them():
    # A point at x = 8.6 lies in pixel 8 (pixel k spans [k, k + 1)); rounding would start the mask at pixel 9 and
    # shift every mask half a pixel right and down, as YOLOv5's integer cast does not.
    square = np.array([[8.6, 8.6], [23.6, 8.6], [23.6, 23.6], [8.6, 23.6]], np.float32)
    full = polygon_mask((32, 32), square)
    rows, cols = np.nonzero(full)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 23, 8, 23)
    quarter = polygon_mask((32, 32), square, downsample=4)
    assert np.array_equal(np.nonzero(quarter.any(0))[0], [2, 3, 4, 5])  # the pixels [8, 24) at a quarter


def test_overlap_mask_orders_by_area_and_lets_the_smaller_instance_win():
    index, order = overlap_mask((64, 64), [SMALL, SQUARE], downsample=1)
    assert order.tolist() == [1, 0]  # largest first: SQUARE is instance 1, SMALL instance 2
    assert index[28, 28] == 2 and index[12, 12] == 1 and index[0, 0] == 0
    separate = polygon_masks((64, 64), [SMALL, SQUARE])
    assert np.array_equal(index == 2, separate[0] > 0)  # the small one keeps all its pixels


def test_crop_mask_keeps_only_inside_the_box():
    masks = torch.ones(2, 10, 12)
    out = crop_mask(masks, torch.tensor([[2.0, 3.0, 5.0, 7.0], [0.0, 0.0, 12.0, 10.0]]))
    assert out[0].sum() == 3 * 4 and out[0, 3:7, 2:5].all() and out[1].all()


def test_masks_from_protos_match_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    protos, coeffs = torch.randn(4, 8, 8, generator=g), torch.randn(3, 4, generator=g)
    boxes = torch.tensor([[0.0, 0.0, 32.0, 32.0], [8.0, 4.0, 20.0, 28.0], [0.0, 0.0, 0.0, 0.0]])
    got = masks_from_protos(protos, coeffs, boxes, (32, 32))
    assert got.shape == (3, 32, 32) and got.dtype == torch.bool and not got[2].any()
    probs = torch.sigmoid(torch.einsum("nk,khw->nhw", coeffs, protos))
    ref = torch.nn.functional.interpolate(crop_mask(probs, boxes / 4)[None], size=(32, 32), mode="bilinear",
                                          align_corners=False)[0] > 0.5
    assert torch.equal(got, ref)
    assert not got[1, :, :7].any() and not got[1, :3].any()  # nothing left of / above the box (1 px of blur)


def test_mask_iou():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2], a[1] = True, True
    iou = mask_iou(a, a[:1])
    assert torch.allclose(iou, torch.tensor([[1.0], [0.5]]), atol=1e-6)


def _bilinear_reference(probs: np.ndarray, x: float, y: float) -> float:
    """Bilinear sample at pixel-centre coordinates (x, y) of a (h, w) map, clamped at the border (float64)."""
    h, w = probs.shape
    x, y = min(max(x - 0.5, 0.0), w - 1.0), min(max(y - 0.5, 0.0), h - 1.0)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = probs[y0, x0] * (1 - fx) + probs[y0, x1] * fx
    bottom = probs[y1, x0] * (1 - fx) + probs[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_original_masks_sample_the_prototypes_through_the_letterbox():
    """A 100 x 60 original letterboxed into 64 x 64 (gain 0.64, 12.8 px of padding above and below), protos at
    1/4: every pixel of every box equals a float64 bilinear reference at the mapped point, thresholded."""
    from yolo_exp.ops.masks import original_masks, paste

    rng = np.random.default_rng(0)
    protos, coeffs = torch.randn(4, 16, 16), torch.randn(3, 4)
    boxes = torch.tensor([[10.3, 5.5, 60.0, 40.2], [0.0, 0.0, 100.0, 60.0], [99.5, 59.5, 100.0, 60.0]])
    ratio_pad = ((0.64, 0.64), (0.0, 12.8))
    patches = original_masks(protos, coeffs, boxes, (64, 64), (60, 100), ratio_pad)
    probs = torch.sigmoid(torch.einsum("nc,chw->nhw", coeffs.double(), protos.double())).numpy()
    for i, p in enumerate(patches):
        full = paste(p, (60, 100)).numpy()
        x1, y1, x2, y2 = boxes[i].tolist()
        for r, c in zip(rng.integers(0, 60, 400), rng.integers(0, 100, 400)):
            inside = x1 <= c < x2 and y1 <= r < y2
            u = ((c + 0.5) * 0.64 + 0.0) / 4  # original pixel centre -> input -> prototype coordinates
            v = ((r + 0.5) * 0.64 + 12.8) / 4
            assert full[r, c] == (inside and _bilinear_reference(probs[i], u, v) > 0.5), (i, r, c)


def test_patch_iou_and_mask_boxes_agree_with_full_masks():
    from yolo_exp.ops.masks import mask_boxes, paste, patches_iou

    rng = np.random.default_rng(1)
    gt = torch.from_numpy(rng.random((3, 30, 40)) > 0.6)
    gt[2] = False
    patches = [(2, 5, torch.from_numpy(rng.random((10, 12)) > 0.3)), (0, 0, torch.ones(30, 40, dtype=torch.bool)),
               (29, 39, torch.zeros(1, 1, dtype=torch.bool))]
    full = torch.stack([paste(p, (30, 40)) for p in patches])
    assert torch.allclose(patches_iou(gt, patches), mask_iou(gt, full), atol=1e-6)
    pairs = torch.tensor([[True, False, True], [False, True, False], [True, True, True]])
    assert torch.equal(patches_iou(gt, patches, pairs) > 0, (mask_iou(gt, full) > 0) & pairs)
    boxes = mask_boxes(gt)
    ys, xs = torch.nonzero(gt[0], as_tuple=True)
    assert boxes[0].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    assert boxes[2].tolist() == [0, 0, 0, 0]


def test_original_masks_equal_grid_sample_on_many_boxes():
    """The separable sampling (only the prototype cells under a box, rows settled without mixing where both
    neighbours agree) gives grid_sample's bilinear masks: boxes of every size, at the edges, letterboxed both
    ways, values crowded around 0.5."""
    import torch.nn.functional as F

    from yolo_exp.ops.masks import original_masks

    g = torch.Generator().manual_seed(0)
    for (h, w), (H, W), ratio_pad in (((60, 100), (64, 64), ((0.64, 0.64), (0.0, 12.8))),
                                      ((97, 41), (64, 32), ((0.66, 0.66), (2.47, 0.0)))):
        protos = torch.randn(8, H // 4, W // 4, generator=g) * 0.05  # sigmoid near 0.5: many undecided pixels
        coeffs = torch.randn(40, 8, generator=g)
        xy = torch.rand(40, 2, generator=g) * torch.tensor([w, h])
        wh = torch.rand(40, 2, generator=g) * torch.tensor([w, h])
        boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1)
        (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
        probs = (coeffs @ protos.view(8, -1)).sigmoid().view(-1, 1, H // 4, W // 4)
        gx = ((torch.arange(w) + 0.5) * gain_w + pad_w) * 2 / W - 1
        gy = ((torch.arange(h) + 0.5) * gain_h + pad_h) * 2 / H - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None].expand(40, -1, -1, -1)
        full = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0] > 0.5
        for i, (t, l, patch) in enumerate(original_masks(protos, coeffs, boxes, (H, W), (h, w), ratio_pad)):
            x1, y1, x2, y2 = (int(v) for v in boxes[i].ceil().clamp(min=0).tolist())
            ref = full[i, y1:max(min(y2, h), y1), x1:max(min(x2, w), x1)]
            assert (t, l) == (min(y1, h), min(x1, w)) and patch.shape == ref.shape
            assert (patch != ref).float().mean() < 1e-3, i  # float rounding may flip a pixel at exactly 0.5
