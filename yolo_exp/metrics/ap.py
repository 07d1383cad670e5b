"""Average precision per class (COCO 101-point), and P/R/F1 at one shared operating confidence.

The numbers follow YOLOv5's val: AP integrates the precision envelope sampled at 101 recall points with the
trapezoid rule (not a plain mean), and P/R/F1 are read at the confidence that maximises the smoothed mean F1.
YOLOv5's sentinels (recall 1, precision 0) make a perfect class score 0.995, not 1.0, and ramp the envelope
linearly past the last recall reached; both are kept so that figures compare with YOLOv5's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-16
CONF_GRID = np.linspace(0, 1, 1000)
RECALL_GRID = np.linspace(0, 1, 101)


def smooth(y: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Box-filter ``y`` over an odd window spanning ``fraction`` of its length, edges padded by repetition."""
    half = round(len(y) * fraction) // 2
    width = 2 * half + 1
    padded = np.concatenate((np.full(half, y[0]), y, np.full(half, y[-1])))
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AP of one PR curve; also the sentinel-padded envelope (recall, precision) used for plotting."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    y = np.interp(RECALL_GRID, mrec, mpre)
    ap = np.sum((y[1:] + y[:-1]) * np.diff(RECALL_GRID)) / 2  # trapezoid rule (np.trapz is gone in numpy 2.4)
    return float(ap), mrec, mpre


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else 0.0


@dataclass(frozen=True)
class APResult:
    """Per-class figures, rows aligned with ``classes`` (the classes that have labels)."""

    classes: np.ndarray  # (k,) class indices present in the targets
    nt: np.ndarray  # (k,) labels per class
    ap: np.ndarray  # (k, t) AP at each IoU threshold
    p: np.ndarray  # (k,) precision at the operating confidence
    r: np.ndarray  # (k,) recall
    f1: np.ndarray  # (k,)
    tp: np.ndarray  # (k,) true positives at the operating point, round(r * nt)
    fp: np.ndarray  # (k,) false positives, round(tp / p - tp)
    conf: float  # operating confidence
    px: np.ndarray  # (1000,) confidence grid, also the recall grid of pr_curve
    p_curve: np.ndarray  # (k, 1000) precision vs confidence
    r_curve: np.ndarray  # (k, 1000) recall vs confidence
    f1_curve: np.ndarray  # (k, 1000)
    pr_curve: np.ndarray  # (k, 1000) precision envelope vs recall at IoU 0.5

    @property
    def ap50(self) -> np.ndarray:
        return self.ap[:, 0]

    @property
    def ap5095(self) -> np.ndarray:
        return self.ap.mean(1)

    @property
    def mp(self) -> float:
        return _mean(self.p)

    @property
    def mr(self) -> float:
        return _mean(self.r)

    @property
    def map50(self) -> float:
        return _mean(self.ap50)

    @property
    def map(self) -> float:
        return _mean(self.ap)

    def maps(self, nc: int) -> np.ndarray:
        """(nc,) mAP@0.5:0.95 per class; classes without labels get the overall map (YOLOv5's convention)."""
        out = np.full(nc, self.map)
        out[self.classes] = self.ap5095
        return out


def ap_per_class(
    tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, smooth_fraction: float = 0.1
) -> APResult:
    """Per-class AP at every IoU column of ``tp`` (n, t) plus P/R/F1 curves over confidence.

    Only classes present in ``target_cls`` are scored; detections of other classes are ignored.
    """
    tp = np.asarray(tp, dtype=np.float64)
    tp = tp[:, None] if tp.ndim == 1 else tp
    order = np.argsort(-np.asarray(conf), kind="stable")
    tp, conf, pred_cls = tp[order], np.asarray(conf, dtype=np.float64)[order], np.asarray(pred_cls)[order]
    classes, nt = np.unique(np.asarray(target_cls).astype(int), return_counts=True)
    k, t = len(classes), tp.shape[1]
    ap = np.zeros((k, t))
    p_curve, r_curve = np.zeros((k, len(CONF_GRID))), np.zeros((k, len(CONF_GRID)))
    pr_curve = np.zeros((k, len(CONF_GRID)))
    for ci, c in enumerate(classes):
        sel = pred_cls == c
        if not sel.any():
            continue
        tpc = tp[sel].cumsum(0)
        fpc = (1 - tp[sel]).cumsum(0)
        recall = tpc / (nt[ci] + EPS)
        precision = tpc / (tpc + fpc)
        # conf is descending, so interpolate on its negation to get an increasing abscissa
        r_curve[ci] = np.interp(-CONF_GRID, -conf[sel], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-CONF_GRID, -conf[sel], precision[:, 0], left=1)
        for j in range(t):
            ap[ci, j], mrec, mpre = compute_ap(recall[:, j], precision[:, j])
            if j == 0:
                pr_curve[ci] = np.interp(CONF_GRID, mrec, mpre)
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
    best = int(smooth(f1_curve.mean(0), smooth_fraction).argmax()) if k else 0
    p, r, f1 = p_curve[:, best], r_curve[:, best], f1_curve[:, best]
    tp_op = (r * nt).round()
    fp_op = (tp_op / (p + EPS) - tp_op).round()
    return APResult(classes, nt, ap, p, r, f1, tp_op, fp_op, float(CONF_GRID[best]), CONF_GRID,
                    p_curve, r_curve, f1_curve, pr_curve)
