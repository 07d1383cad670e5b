"""Validation: run the model over a loader, score detections in original-image coordinates (engine/val_scoring.py),
report like YOLOv5 (engine/val_report.py)."""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from yolo_exp.engine.val_report import ValResult, build_result, log_table, plot_val_batch, write_outputs
from yolo_exp.engine.val_scoring import Accumulator, MaskScoring, gives_masks, score_batch
from yolo_exp.metrics.coco import CocoJsonWriter
from yolo_exp.metrics.confusion import ConfusionMatrix
from yolo_exp.ops.nms import non_max_suppression

LOGGER = logging.getLogger(__name__)
LossFn = Callable[[list[torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
PLOTTED_BATCHES = 3


class StageTimer:
    """Accumulates wall time per stage; synchronises CUDA so asynchronous kernels are charged to their stage."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "nms": 0.0, "metrics": 0.0}

    @contextmanager
    def __call__(self, stage: str):
        if self.cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds[stage] += time.perf_counter() - t0

    def per_image_ms(self, n: int) -> dict[str, float]:
        return {k: 1000 * v / max(n, 1) for k, v in self.seconds.items()}


def inference_copy(model: torch.nn.Module, half: bool = False, channels_last: bool = False) -> torch.nn.Module:
    """An eval-mode copy with BatchNorm folded into the convs, as YOLOv5 validates.

    Folding and channels_last change only float rounding (outputs agree to ~1e-5 relative) and together make
    CPU inference 1.6x faster for yolov5n at 640; working on a copy leaves the training model and the EMA
    untouched, so validation inside training and val.py run the very same code path.
    """
    net = copy.deepcopy(model).eval()
    if hasattr(net, "fuse"):
        net.fuse()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.half() if half else net


@dataclass(frozen=True)
class ValSettings:
    """How to validate, as one value built once from the config (``of``): thresholds, precision and outputs.
    ``plots``/``save_json``/``save_txt`` write only when validate() is given a ``save_dir``."""

    conf_thres: float = 0.001
    iou_thres: float = 0.6
    max_det: int = 300
    half: bool = False  # FP16 inference (CUDA only)
    single_cls: bool = False
    plots: bool = False
    save_json: bool = False
    save_txt: bool = False
    verbose: bool = False  # per-class table
    channels_last: bool = False

    @classmethod
    def of(cls, cfg: Any, half: bool, **changes: Any) -> "ValSettings":
        """From a composed train or val config: ``val.*``, ``single_cls``, ``device.channels_last``."""
        return replace(cls(conf_thres=cfg.val.conf_thres, iou_thres=cfg.val.iou_thres, max_det=cfg.val.max_det,
                           half=half, single_cls=cfg.single_cls, save_json=cfg.val.save_json,
                           save_txt=cfg.val.save_txt, channels_last=cfg.device.channels_last), **changes)


def _runnable(model: torch.nn.Module, s: ValSettings, device: torch.device) -> tuple[Any, bool]:
    """What validation calls, and whether its input is FP16: an .onnx/.torchscript backend (yolo_exp.deploy.backends)
    as it is (it takes float input and casts it itself), else an inference copy of the model."""
    half = s.half and device.type == "cuda"
    if getattr(model, "exported", False):
        return model, False
    return inference_copy(model, half, s.channels_last), half


@torch.no_grad()
def validate(model: torch.nn.Module, dataloader: Iterable, names: Sequence[str], device: torch.device | str,
             settings: ValSettings = ValSettings(), loss_fn: LossFn | None = None, save_dir: Path | str | None = None,
             log: logging.Logger = LOGGER, anno_json: Path | str | None = None,
             class_map: Sequence[int] | None = None) -> ValResult:
    """Score ``model`` on ``dataloader``; ``model`` itself is not touched (see ``inference_copy``).

    Predictions and labels are mapped back to original-image pixels before matching, as YOLOv5 does, so figures
    do not depend on the letterbox. ``anno_json`` (with ``save_json``) adds pycocotools' mAP, which then replaces
    ours in the result, as YOLOv5 does; ``class_map`` maps class indices to COCO category ids in the JSON.
    """
    s = settings
    single_cls, device = s.single_cls, torch.device(device)
    nc = 1 if single_cls else len(names)
    save_dir = Path(save_dir) if save_dir is not None else None
    plots, save_json, save_txt = (flag and save_dir is not None for flag in (s.plots, s.save_json, s.save_txt))
    if save_txt:
        (save_dir / "labels").mkdir(parents=True, exist_ok=True)
    net, half = _runnable(model, s, device)
    timer, acc, confusion = StageTimer(device), Accumulator(nc), ConfusionMatrix(nc) if plots else None
    masks = MaskScoring(dataloader.dataset, nc, all_masks=save_json) if gives_masks(dataloader) else None
    loss_sum, batches = None, 0
    memory_format = torch.channels_last if s.channels_last else torch.contiguous_format
    # predictions.json is streamed: in place, whole, when the loop ends; the old one kept if it fails
    with CocoJsonWriter(save_dir / "predictions.json") if save_json else contextlib.nullcontext() as json_out:
        for batch_i, (imgs, targets, paths, shapes, *batch_masks) in enumerate(dataloader):
            with timer("preprocess"):
                im = imgs.to(device, non_blocking=True).contiguous(memory_format=memory_format)
                im = (im.half() if half else im.float()) / 255
                targets = targets.to(device)
            with timer("inference"):
                out = net(im)
            # a Segment head adds prototypes
            preds, protos, raw = out if len(out) == 3 else (out[0], None, out[1])
            if loss_fn is not None:
                items = loss_fn(raw if protos is None else (raw, protos), targets,
                                *(m.to(device) for m in batch_masks))[1].to(device)
                loss_sum, batches = items if loss_sum is None else loss_sum + items, batches + 1
            with timer("nms"):
                outputs = non_max_suppression(preds, s.conf_thres, s.iou_thres, multi_label=True,
                                              agnostic=single_cls, max_det=s.max_det,
                                              nm=0 if protos is None else protos.shape[1])
            with timer("metrics"):
                score_batch(outputs, targets, im.shape[2:], paths, shapes, single_cls, acc, confusion,
                            save_dir if save_txt else None, json_out, class_map,
                            None if protos is None or masks is None else (masks, protos))
            if plots and batch_i < PLOTTED_BATCHES:
                plot_val_batch(imgs, targets.cpu(), outputs, paths, names, save_dir, batch_i,
                               masks=batch_masks[0] if batch_masks else None, protos=protos,
                               overlap=getattr(getattr(dataloader, "dataset", None), "overlap", True))

    losses = None if loss_sum is None else tuple(float(v) for v in (loss_sum / max(batches, 1)).cpu())
    res, ap = build_result(acc, None if masks is None else masks.acc, names, nc, losses, timer.per_image_ms(acc.seen))
    log_table(log, res, s.verbose, nc)
    if save_dir is not None:
        write_outputs(res, ap, confusion, names, save_dir, plots, json_out, anno_json, log)
    return res
