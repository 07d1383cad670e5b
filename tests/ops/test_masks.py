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
