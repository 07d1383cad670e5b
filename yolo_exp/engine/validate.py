"""Validation: run the model over a loader, score detections in original-image coordinates, report like YOLOv5."""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

from yolo_exp.metrics.ap import APResult, ap_per_class
from yolo_exp.metrics.coco import CocoJsonWriter, coco_eval, predictions_to_coco, rle_encode_patch
from yolo_exp.metrics.confusion import ConfusionMatrix
from yolo_exp.metrics.matching import IOU_THRESHOLDS, match_predictions
from yolo_exp.metrics.plots import plot_curves
from yolo_exp.ops.boxes import scale_boxes, xywh2xyxy, xyxy2xywh
from yolo_exp.ops.masks import mask_boxes, masks_from_protos, original_masks, patches_iou
from yolo_exp.ops.nms import non_max_suppression
from yolo_exp.files.paths import UniqueNames
from yolo_exp.report.results import loss_names

LOGGER = logging.getLogger(__name__)
LossFn = Callable[[list[torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
HEADER = ("Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95")
PLOTTED_BATCHES = 3


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    images: int  # images containing the class
    instances: int
    precision: float
    recall: float
    map50: float
    map: float


@dataclass
class ValResult:
    precision: float
    recall: float
    map50: float
    map: float
    maps: np.ndarray  # (nc,) mAP@0.5:0.95 per class, unlabelled classes get the overall map
    classes: list[ClassMetrics]  # classes with labels
    losses: tuple[float, ...] | None  # (box, obj, cls) or (box, seg, obj, cls) means over batches with a loss_fn
    speed: dict[str, float]  # ms per image: preprocess, inference, nms, metrics
    nt: np.ndarray  # (nc,) labels per class
    seen: int  # images
    conf: float = 0.0  # the operating confidence P and R were read at
    coco: tuple[float, float] | None = None  # pycocotools (mAP@0.5:0.95, mAP@0.5) when requested
    mask: ValResult | None = None  # segmentation: the same figures scored on masks

    @property
    def metrics(self) -> dict[str, float]:
        """The headline figures, keyed as ``fitness`` weights name them (mask_* for a segmentation model's)."""
        box = {"precision": self.precision, "recall": self.recall, "map50": self.map50, "map": self.map}
        return box if self.mask is None else {**box, **{f"mask_{k}": v for k, v in self.mask.metrics.items()}}

    def to_json(self) -> dict:
        return {
            **self.metrics, "seen": self.seen, "instances": int(self.nt.sum()), "conf": self.conf,
            "losses": None if self.losses is None else dict(zip(loss_names(len(self.losses)), self.losses)),
            "speed_ms_per_image": self.speed, "coco": self.coco, "maps": [float(m) for m in self.maps],
            "classes": [asdict(c) for c in self.classes],
            **({} if self.mask is None else {"mask": self.mask.to_json()}),
        }


class _StageTimer:
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


@dataclass
class _Accumulator:
    """Per-image evidence for AP, plus what the optional outputs need."""

    nc: int
    stats: list[tuple[torch.Tensor, ...]] = field(default_factory=list)
    images_per_class: np.ndarray = field(init=False)
    seen: int = 0
    txt_names: UniqueNames = field(default_factory=UniqueNames)  # image -> its labels/*.txt (save_txt)

    def __post_init__(self):
        self.images_per_class = np.zeros(self.nc, dtype=np.int64)

    def add(self, correct: torch.Tensor, pred: torch.Tensor, labels: torch.Tensor) -> None:
        self.seen += 1
        self.stats.append((correct.cpu(), pred[:, 4].cpu(), pred[:, 5].cpu(), labels[:, 0].cpu()))
        present = labels[:, 0].long().unique().cpu().numpy()
        self.images_per_class[present[present < self.nc]] += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.stats:
            return np.zeros((0, len(IOU_THRESHOLDS)), bool), np.zeros(0), np.zeros(0), np.zeros(0)
        correct, conf, cls, target_cls = (torch.cat(x).numpy() for x in zip(*self.stats))
        return correct, conf, cls, target_cls


def _to_original(boxes: torch.Tensor, img_shape: Sequence[int], shape: Sequence) -> torch.Tensor:
    """xyxy in the letterboxed batch image -> xyxy in the original image, via the loader's ratio and padding."""
    (h0, w0), ratio_pad = shape
    return scale_boxes(img_shape, boxes, (int(h0), int(w0)), ratio_pad)


def _write_txt(path: Path, predn: torch.Tensor, shape: Sequence) -> None:
    """YOLO-format predictions ``cls cx cy w h conf`` normalised to the original image."""
    h0, w0 = (float(v) for v in shape[0])
    xywh = xyxy2xywh(predn[:, :4].float()) / torch.tensor([w0, h0, w0, h0], device=predn.device)
    rows = torch.cat((predn[:, 5:6], xywh, predn[:, 4:5]), 1).tolist()
    path.write_text("".join(f"{int(r[0])} " + " ".join(f"{v:.6g}" for v in r[1:]) + "\n" for r in rows))


def _plot_batch(imgs, targets, outputs, paths, names, save_dir: Path, batch_i: int, masks=None, protos=None,
                overlap: bool = True, conf_thres: float = 0.25) -> None:
    """val_batch{i}_labels.jpg and val_batch{i}_pred.jpg (detections from ``conf_thres``), with masks for a
    segmentation model (the batch's ``masks``; the detections' from ``protos``)."""
    from yolo_exp.report.images import instance_masks, plot_batch  # lazy: cv2 drawing only when pictures are wanted

    plot_batch(imgs, targets, paths, names, save_dir / f"val_batch{batch_i}_labels.jpg",
               masks=None if masks is None else instance_masks(targets, masks, overlap))
    outputs = [o[o[:, 4] >= conf_thres] for o in outputs]
    preds = [torch.cat((torch.full_like(o[:, :1], i), o[:, 5:6], o[:, :5]), 1) for i, o in enumerate(outputs)]
    pred_masks = None if protos is None else torch.cat(
        [masks_from_protos(protos[i], o[:, 6:], o[:, :4], imgs.shape[2:]).cpu() for i, o in enumerate(outputs)])
    plot_batch(imgs, torch.cat(preds).cpu().float(), paths, names, save_dir / f"val_batch{batch_i}_pred.jpg",
               xyxy=True, conf_thres=conf_thres, masks=pred_masks)


def _headline(r: ValResult | ClassMetrics) -> tuple[float, float, float, float]:
    return r.precision, r.recall, r.map50, r.map


def _log_table(log: logging.Logger, res: ValResult, verbose: bool, nc: int) -> None:
    """YOLOv5's table; a segmentation model's has the mask figures after the box ones, as YOLOv5-seg's."""
    m = res.mask
    header = HEADER if m is None else (*HEADER[:3], "Box(P", *HEADER[4:6], "mAP50-95)", "Mask(P", *HEADER[4:6],
                                       "mAP50-95)")
    log.info(("%22s" + "%11s" * (len(header) - 1)) % header)
    row = "%22s" + "%11i" * 2 + "%11.3g" * (len(header) - 3)
    log.info(row % ("all", res.seen, res.nt.sum(), *_headline(res), *(_headline(m) if m else ())))
    if res.nt.sum() == 0:
        log.warning("no labels found in the validation set, metrics cannot be computed without labels")
    if verbose and nc > 1:
        for i, c in enumerate(res.classes):
            log.info(row % (c.name, c.images, c.instances, *_headline(c), *(_headline(m.classes[i]) if m else ())))
    (log.info if verbose else log.debug)(
        "Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS, %.1fms metrics per image",
        *(res.speed[k] for k in ("preprocess", "inference", "nms", "metrics")))


def _summarise(acc: _Accumulator, names: Sequence[str], nc: int) -> tuple[APResult, list[ClassMetrics]]:
    ap = ap_per_class(*acc.arrays())
    rows = [
        ClassMetrics(names[c] if c < len(names) else str(c), int(acc.images_per_class[c]) if c < nc else 0,
                     int(n), float(p), float(r), float(a50), float(a))
        for c, n, p, r, a50, a in zip(ap.classes, ap.nt, ap.p, ap.r, ap.ap50, ap.ap5095)
    ]
    return ap, rows


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


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    dataloader: Iterable, names: Sequence[str],
    device: torch.device | str,
    settings: ValSettings = ValSettings(),
    loss_fn: LossFn | None = None,
    save_dir: Path | str | None = None,
    log: logging.Logger = LOGGER,
    anno_json: Path | str | None = None,
    class_map: Sequence[int] | None = None,
) -> ValResult:
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
    half = s.half and device.type == "cuda"
    exported = getattr(model, "exported", False)  # an .onnx/.torchscript backend (yolo_exp.models.backends)
    net = model if exported else inference_copy(model, half, s.channels_last)
    half = half and not exported  # an exported model takes float input and casts it itself
    timer, acc, confusion = _StageTimer(device), _Accumulator(nc), ConfusionMatrix(nc) if plots else None
    masks = _MaskScoring(dataloader.dataset, nc, all_masks=save_json) if _gives_masks(dataloader) else None
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
                _score_batch(outputs, targets, im.shape[2:], paths, shapes, single_cls, acc, confusion,
                             save_dir if save_txt else None, json_out, class_map,
                             None if protos is None or masks is None else (masks, protos))
            if plots and batch_i < PLOTTED_BATCHES:
                _plot_batch(imgs, targets.cpu(), outputs, paths, names, save_dir, batch_i,
                            masks=batch_masks[0] if batch_masks else None, protos=protos,
                            overlap=getattr(getattr(dataloader, "dataset", None), "overlap", True))

    ap, rows = _summarise(acc, names, nc)
    res = ValResult(
        ap.mp, ap.mr, ap.map50, ap.map, ap.maps(nc), rows,
        None if loss_sum is None else tuple(float(v) for v in (loss_sum / max(batches, 1)).cpu()),
        timer.per_image_ms(acc.seen), np.bincount(acc.arrays()[3].astype(int), minlength=nc), acc.seen, ap.conf,
    )
    if masks is not None:
        mask_ap, mask_rows = _summarise(masks.acc, names, nc)
        res.mask = ValResult(mask_ap.mp, mask_ap.mr, mask_ap.map50, mask_ap.map, mask_ap.maps(nc), mask_rows, None,
                             {}, res.nt, res.seen, mask_ap.conf)
    _log_table(log, res, s.verbose, nc)
    if save_dir is not None:
        _write_outputs(res, ap, confusion, names, save_dir, plots, json_out, anno_json, log)
    return res


def _score_batch(outputs, targets, img_shape, paths, shapes, single_cls, acc, confusion, txt_dir, json_out,
                 class_map, masks=None) -> None:
    """Match each image's detections against its labels, both in original-image pixels; with ``masks``
    (_MaskScoring, the batch's prototypes) their masks too."""
    h, w = img_shape
    scale = torch.tensor([w, h, w, h], device=targets.device, dtype=torch.float32)
    for si, pred in enumerate(outputs):
        labels = targets[targets[:, 0] == si, 1:].float()
        if single_cls:
            pred[:, 5] = 0
            labels[:, 0] = 0
        predn = pred.clone().float()
        _to_original(predn[:, :4], img_shape, shapes[si])
        boxes = _to_original(xywh2xyxy(labels[:, 1:5] * scale), img_shape, shapes[si])
        labelsn = torch.cat((labels[:, :1], boxes), 1)
        acc.add(match_predictions(predn, labelsn, IOU_THRESHOLDS), pred, labels)
        patches = masks[0].score(pred, predn, masks[1][si], img_shape, paths[si], shapes[si], single_cls) \
            if masks is not None else None
        if confusion is not None:
            confusion.process_batch(predn, labelsn)
        if json_out is not None:
            records = predictions_to_coco(predn, paths[si], class_map)
            if patches is not None:
                for r, (t, l, m) in zip(records, patches):
                    r["segmentation"] = rle_encode_patch((t, l, m.cpu().numpy()), shapes[si][0])
            json_out.add(records)
        if txt_dir is not None and len(predn):
            name = acc.txt_names(paths[si], Path(paths[si]).stem, ".txt")
            _write_txt(txt_dir / "labels" / name, predn, shapes[si])


def _gives_masks(dataloader: Iterable) -> bool:
    return hasattr(getattr(dataloader, "dataset", None), "instance_masks")


class _MaskScoring:
    """Mask metrics: each detection's mask at the original image size (ops.masks.original_masks) against the
    label polygons filled at that size (SegmentDataset.instance_masks), matched as boxes are but by mask IoU.
    A mask is only computed where it can match (a same-class label whose box meets the detection's box), unless
    ``all_masks`` (the COCO JSON needs every one)."""

    def __init__(self, dataset: Any, nc: int, all_masks: bool = False) -> None:
        self.dataset, self.acc, self.all_masks = dataset, _Accumulator(nc), all_masks
        self.index = {f: i for i, f in enumerate(dataset.im_files)}

    def score(self, pred: torch.Tensor, predn: torch.Tensor, protos: torch.Tensor, img_shape: Sequence[int],
              path: str, shape: Sequence, single_cls: bool) -> list:
        """Add one image's mask evidence; return the detections' masks (None where not computed)."""
        cls, gt = self.dataset.instance_masks(self.index[path])
        gt = torch.from_numpy(gt.view(bool)).to(pred.device)  # 0/1 bytes (polygon_masks): a bool view, no copy
        labels = torch.zeros((len(cls), 5), device=pred.device)
        labels[:, 0] = 0 if single_cls else torch.from_numpy(cls).to(pred.device)
        pairs = (box_iou(mask_boxes(gt), predn[:, :4].float()) > 0) & (labels[:, :1] == predn[:, 5])
        wanted = torch.ones(len(pred), dtype=torch.bool) if self.all_masks else pairs.any(0).cpu()
        idx = wanted.nonzero()[:, 0].tolist()
        found = original_masks(protos, pred[idx, 6:], predn[idx, :4], img_shape, shape[0], shape[1])
        iou = torch.zeros((len(gt), len(pred)), device=pred.device)
        iou[:, idx] = patches_iou(gt, found, pairs[:, idx])
        self.acc.add(match_predictions(predn, labels, IOU_THRESHOLDS, iou=iou), pred, labels)
        patches: list = [None] * len(pred)
        for i, p in zip(idx, found):
            patches[i] = p
        return patches


def _write_outputs(res: ValResult, ap: APResult, confusion: ConfusionMatrix | None, names: Sequence[str],
                   save_dir: Path, plots: bool, json_out: CocoJsonWriter | None, anno_json: Path | str | None,
                   log: logging.Logger) -> None:
    save_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        plot_curves(ap, names, save_dir)
        confusion.plot(save_dir / "confusion_matrix.png", list(names)[: confusion.nc])
    if json_out is not None:
        pred_json = json_out.path
        log.info("Saved %d COCO predictions to %s", json_out.count, pred_json)
        if anno_json is not None:
            preds = pred_json if json_out.count else []
            res.coco = coco_eval(anno_json, preds)
            log.info("pycocotools: mAP50-95 %.4f, mAP50 %.4f (ours %.4f, %.4f)", *res.coco, res.map, res.map50)
            res.map, res.map50 = res.coco
            if res.mask is not None:
                m = res.mask
                m.coco = coco_eval(anno_json, preds, iou_type="segm")
                log.info("pycocotools masks: mAP50-95 %.4f, mAP50 %.4f (ours %.4f, %.4f)", *m.coco, m.map, m.map50)
                m.map, m.map50 = m.coco
    (save_dir / "metrics.json").write_text(json.dumps(res.to_json(), indent=2))
