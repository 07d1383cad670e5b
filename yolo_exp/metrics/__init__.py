"""Detection metrics: matching, AP, P/R/F1, confusion matrix, fitness, metric plots, COCO export."""
from yolo_exp.metrics.ap import APResult, ap_per_class, compute_ap, smooth
from yolo_exp.metrics.coco import coco_eval, coco_image_id, predictions_to_coco
from yolo_exp.metrics.confusion import ConfusionMatrix
from yolo_exp.metrics.fitness import DEFAULT_WEIGHTS, fitness
from yolo_exp.metrics.matching import IOU_THRESHOLDS, match_predictions
from yolo_exp.metrics.plots import plot_curves

__all__ = [
    "APResult", "ConfusionMatrix", "DEFAULT_WEIGHTS", "IOU_THRESHOLDS", "ap_per_class", "coco_eval", "coco_image_id",
    "compute_ap", "fitness", "match_predictions", "plot_curves", "predictions_to_coco", "smooth",
]
