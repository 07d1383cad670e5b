"""The detection dataset: verified labels, image caching, and YOLOv5's training/validation transforms.

``__getitem__`` also accepts ``(index, mosaic)`` pairs: the sampler runs in the main process and reads
``dataset.mosaic`` there every epoch, so switching mosaic off (``close_mosaic``) reaches persistent workers, whose
copies of the dataset never see attribute changes made in the main process.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from yolo_exp.data import augment as A
from yolo_exp.data import warp as W
from yolo_exp.data import label_cache
from yolo_exp.data.opencv_images import OpenCVImages
from yolo_exp.data.files import (IMG_FORMATS, LABEL_RULE, list_images, long_side_size, read_image,
                                 resize_long_side)
from yolo_exp.data.image_cache import CACHE_MODES, DiskImageCache, available_memory, fill_ram, ram_needed
from yolo_exp.data.ragged import RaggedGroups, RaggedRows, RaggedStrings
from yolo_exp.data.verify import CORRUPT, FOUND, ImageRecord, report, scan
from yolo_exp.files.limits import short
from yolo_exp.files.paths import default_cache_dir
from yolo_exp.ops.boxes import xywhn2xyxy, xyxy2xywhn

LOGGER = logging.getLogger(__name__)

# YOLOv5 hyp.scratch-low augmentation values, used when augmenting without a hyp mapping
DEFAULT_AUG_HYP: dict[str, float] = {
    "hsv_h": 0.015, "hsv_s": 0.7, "hsv_v": 0.4, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "shear": 0.0,
    "perspective": 0.0, "flipud": 0.0, "fliplr": 0.5, "mosaic": 1.0, "mixup": 0.0, "copy_paste": 0.0,
}

Sample = tuple[torch.Tensor, torch.Tensor, str, Any]
WARP_KEYS = ("degrees", "translate", "scale", "shear", "perspective")


def load_records(
    sources: Sequence[Path], nc: int, tol: float = 0.01, cache_dir: Path | None = None, prefix: str = ""
) -> tuple[list[ImageRecord], dict[str, int]]:
    """Verified records for the sources (from the label cache when it is current) and the status counts."""
    searched = ", ".join(str(s) for s in sources)
    im_files = list_images(sources)
    if not im_files:
        raise FileNotFoundError(f"{prefix}no images ({', '.join(sorted(IMG_FORMATS))}) found in {searched}")
    key = label_cache.cache_key(im_files, nc, tol)
    path = label_cache.cache_path(sources, cache_dir)
    records = label_cache.load(path, key)
    if records is None:
        records = scan(im_files, nc, tol, desc=f"{prefix}Scanning {searched}")
        label_cache.save(path, key, records)
    stats = report(records, f"{prefix}{searched}", searched)
    if stats[FOUND] == 0:
        raise ValueError(f"{prefix}no labels found for the images in {searched}; {LABEL_RULE}")
    return [r for r in records if r.status != CORRUPT], stats


class YoloDataset(Dataset):
    """Images + labels with YOLOv5's augmentation order (mosaic, copy-paste, perspective, mixup, HSV, flips)."""

    def __init__(
        self, sources: Path | str | Sequence[Path | str], imgsz: int = 640, batch_size: int = 16,
        augment: bool = False, hyp: Mapping[str, float] | None = None, rect: bool = False, stride: int = 32,
        pad: float = 0.0, nc: int = 0, single_cls: bool = False, cache: str = "none", cache_dir: Path | None = None,
        prefix: str = "", seed: int = 0, tol: float = 0.01, gpu_augment: bool = False,
    ):
        srcs = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
        if cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
        self.imgsz, self.augment, self.rect, self.stride = imgsz, augment, rect, stride
        self.hyp = {**DEFAULT_AUG_HYP, **dict(hyp or {})}
        self.images = _images(gpu_augment, self.hyp)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        records, self.stats = load_records(srcs, nc, tol, self.cache_dir, prefix)
        self.im_files = RaggedStrings.of(r.im_file for r in records)
        # one array + offsets each, shared by the forked workers (ragged.py says why)
        self.labels = RaggedRows.of([r.labels for r in records], 5)
        self.segments = RaggedGroups.of([r.segments for r in records], 2)
        self.shapes = np.array([r.shape for r in records], np.int64).reshape(-1, 2)
        if single_cls:
            self.labels.flat[:, 0] = 0
        self.batch_shapes: np.ndarray | None = None
        self.batch = np.zeros(len(records), np.int64)
        if rect:
            order, self.batch, self.batch_shapes = A.rect_batches(self.shapes, batch_size, imgsz, stride, pad)
            self.im_files = self.im_files.take(order)
            self.labels = self.labels.take(order)
            self.segments = self.segments.take(order)
            self.shapes = self.shapes[order]
        self.mosaic = augment and not rect
        self.indices: np.ndarray | None = None  # image-weights resampling, read by the sampler
        self.seed = seed
        self.rng = random.Random(seed)
        self._ram: list[np.ndarray] | None = None
        self._npy: list[Path] | None = None
        self._broken: set[int] = set()  # images that did not decode (this process)
        self._setup_cache(cache, prefix)

    def _setup_cache(self, cache: str, prefix: str) -> None:
        if cache == "ram":
            need, have = ram_needed(self._load_resized, len(self)), available_memory()
            if need > have:
                LOGGER.warning("%snot caching images in RAM: needs %.1f GB, %.1f GB available",
                               prefix, need / 1e9, have / 1e9)
                return
            self._ram = fill_ram(self._load_resized, len(self))
            LOGGER.info("%scached %d images in RAM (%.2f GB)", prefix, len(self), sum(x.nbytes for x in self._ram) / 1e9)
        elif cache == "disk":
            self._disk = DiskImageCache(self.cache_dir, partial(resize_long_side, size=self.imgsz, augment=self.augment),
                                        f"long side {self.imgsz}, augment {self.augment}")
            self._npy = self._disk.build(self.im_files)

    def __len__(self) -> int:
        return len(self.im_files)

    def _load_resized(self, i: int) -> np.ndarray:
        if self._npy is not None:  # stored resized
            return self._disk.read(self.im_files[i], self._npy[i])
        try:
            return resize_long_side(read_image(self.im_files[i]), self.imgsz, self.augment)
        except ValueError as exc:  # the scan judges a JPEG by its header: this one's data does not decode
            return self._undecodable(i, exc)

    def _undecodable(self, i: int, exc: ValueError) -> np.ndarray:
        """An image that passed the scan but does not decode: said once per process, then used as a grey image
        with no labels (training goes on; what is left out is named)."""
        if i not in self._broken:
            self._broken.add(i)
            reason = str(exc).replace(f"{self.im_files[i]}: ", "").replace(f" {self.im_files[i]}", "")
            LOGGER.warning("%s: %s; used as an empty grey image without its %d labels", self.im_files[i],
                           short(reason, 160), len(self.labels[i]))
        w, h = long_side_size(*(int(v) for v in self.shapes[i]), self.imgsz)
        return np.full((h, w, 3), W.PAD, np.uint8)

    def labels_of(self, i: int) -> np.ndarray:
        """Image ``i``'s labels (none for an image that did not decode)."""
        return self.labels[i] if i not in self._broken else self.labels[i][:0]

    def segments_of(self, i: int) -> W.Segments:
        return self.segments[i] if i not in self._broken else []

    def load_image(self, i: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """BGR image resized to long side imgsz, original (h0, w0), resized (h, w)."""
        im = self._ram[i] if self._ram is not None else self._load_resized(i)
        w0, h0 = self.shapes[i]
        return im, (int(h0), int(w0)), im.shape[:2]

    def _tile(self, i: int) -> tuple[np.ndarray, np.ndarray, W.Segments]:
        im = self.load_image(i)[0]  # first: a failed decode empties the labels
        return im, self.labels_of(i), self.segments_of(i)

    def load_mosaic(self, index: int) -> tuple[np.ndarray, np.ndarray, W.Segments]:
        """4-image mosaic + copy-paste + perspective crop back to imgsz; labels pixel [cls, x1, y1, x2, y2] and
        their pixel polygons (empty when the tiles have none)."""
        s, rng, hyp = self.imgsz, self.rng, self.hyp
        center = (int(rng.uniform(s / 2, 3 * s / 2)), int(rng.uniform(s / 2, 3 * s / 2)))
        idx = [index] + rng.choices(range(len(self)), k=3)
        rng.shuffle(idx)
        tiles = [self._tile(i) for i in idx]
        places = A.mosaic_layout([t[0].shape[:2] for t in tiles], s, center)
        img = self.images.paste([t[0] for t in tiles], places, (2 * s, 2 * s))
        if hyp["copy_paste"]:  # it pastes by the pixels of the whole canvas (refused on the device path)
            img = self.images.pixels(img)
        img, labels, segs = A.copy_paste(img, *A.mosaic_labels(tiles, places, s), hyp["copy_paste"], rng)
        return self._perspective(img, labels, segs, border=(-s // 2, -s // 2))

    def _perspective(self, img: Any, labels: np.ndarray, segs: W.Segments,
                     border: tuple[int, int] = (0, 0)) -> tuple[Any, np.ndarray, W.Segments]:
        w = W.draw_warp(img.shape[:2], border, self.rng, **{k: self.hyp[k] for k in WARP_KEYS})
        return (self.images.warp(img, w), *W.warp_labels(labels, segs, w))

    def _letterboxed(self, index: int) -> tuple[np.ndarray, np.ndarray, Any]:
        img, (h0, w0), (h, w) = self.load_image(index)
        shape = tuple(self.batch_shapes[self.batch[index]]) if self.rect else self.imgsz
        img, (rw, rh), pad, shapes = fit_letterbox(img, (h0, w0), shape, self.augment, self.images.pad)
        labels = self.labels_of(index).copy()
        if len(labels):
            labels[:, 1:5] = xywhn2xyxy(labels[:, 1:5], rw * w, rh * h, pad[0], pad[1])
        return img, labels, shapes

    def geometry(self, index: int, mosaic: bool, polygons: bool = False) -> tuple[Any, ...]:
        """(image, labels [cls, x1, y1, x2, y2] in pixels, their pixel polygons, the letterbox record or None):
        mosaic (+ mixup) or letterbox (+ random perspective). ``polygons`` carries the label polygons through the
        letterbox path too (the mosaic path always does, as YOLOv5's), so that boxes come from the moved polygons."""
        hyp, rng = self.hyp, self.rng
        if self.augment and mosaic and rng.random() < hyp["mosaic"]:
            img, labels, segs = self.load_mosaic(index)
            if rng.random() < hyp["mixup"]:
                img2, labels2, segs2 = self.load_mosaic(rng.randrange(len(self)))
                img = self.images.blend(img, img2, rng.betavariate(32.0, 32.0))
                labels = np.concatenate([labels, labels2], 0)
                segs = [*segs, *segs2] if len(segs) + len(segs2) == len(labels) else []
            return img, labels, segs, None
        img, labels, shapes = self._letterboxed(index)
        segs = self._letterboxed_polygons(index, shapes) if polygons else []
        if self.augment:
            img, labels, segs = self._perspective(img, labels, segs)
        return img, labels, segs, shapes

    def last_draws(self) -> tuple[np.ndarray | None, bool, bool]:
        """(HSV gains or None, flip up-down, flip left-right): the draws after the geometry, in YOLOv5's order."""
        if not self.augment:
            return None, False, False
        hyp, rng = self.hyp, self.rng
        gains = A.hsv_gains(hyp["hsv_h"], hyp["hsv_s"], hyp["hsv_v"], rng)
        return gains, rng.random() < hyp["flipud"], rng.random() < hyp["fliplr"]

    def _letterboxed_polygons(self, index: int, shapes: Any) -> W.Segments:
        """The label polygons of image ``index`` in letterboxed pixels (the map ``_letterboxed`` applied to boxes)."""
        segs = self.segments_of(index)
        if len(segs) != len(self.labels_of(index)):
            return []
        (h0, w0), ((gh, gw), (padw, padh)) = shapes
        scale, shift = np.array([w0 * gw, h0 * gh], np.float32), np.array([padw, padh], np.float32)
        return [s * scale + shift for s in segs]

    def begin(self, item: int | tuple[int, bool] | tuple[int, bool, int]) -> tuple[int, bool]:
        """(index, mosaic) of a sampler item; with an epoch, the generator is seeded for it first."""
        if isinstance(item, (int, np.integer)):
            return int(item), self.mosaic
        index, mosaic, *epoch = item
        if epoch:  # augmentation is a pure function of (seed, epoch, index): same batches with any worker
            # count, and a resumed run draws exactly what an uninterrupted one would have
            self.rng.seed(f"{self.seed}/{epoch[0]}/{int(index)}")
        return int(index), mosaic

    def __getitem__(self, item: int | tuple[int, bool] | tuple[int, bool, int]) -> Sample:
        index, mosaic = self.begin(item)
        img, labels, _, shapes = self.geometry(index, mosaic)
        if len(labels):
            labels[:, 1:5] = xyxy2xywhn(labels[:, 1:5], w=img.shape[1], h=img.shape[0], clip=True, eps=1e-3)
        gains, ud, lr = self.last_draws()
        for axis, flip in ((1, ud), (0, lr)):
            if flip:
                labels = A.flip_labels(labels, axis)
        targets = torch.zeros((len(labels), 6))
        targets[:, 1:] = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))
        return self.images.finish(img, gains, ud, lr), targets, self.im_files[index], shapes


def fit_letterbox(im: np.ndarray, hw0: tuple[int, int], shape: Any, scaleup: bool,
                  pad: Any = None) -> tuple[Any, ...]:
    """An image already resized to its long side into ``shape``: (image, (ratio_w, ratio_h), pad, the record
    ``((h0, w0), ((ratio_h, ratio_w) from the original, pad))`` that maps boxes back to the original image).
    ``pad``: the letterbox's border step (the device path records it)."""
    (h0, w0), (h, w) = hw0, im.shape[:2]
    img, (rw, rh), pad = A.letterbox(im, shape, scaleup=scaleup, pad=pad)
    return img, (rw, rh), pad, ((h0, w0), ((h * rh / h0, w * rw / w0), pad))


def prepare_image(im0: np.ndarray, imgsz: int, stride: int, square: bool = False) -> tuple[torch.Tensor, Any]:
    """One BGR image as validation feeds it to the model (long side ``imgsz``, its own rectangular shape with
    validation's padding, RGB CHW uint8), and the record that maps its boxes back; predict uses exactly this.
    ``square``: an ``imgsz`` square instead (a model exported for one input size)."""
    h0, w0 = im0.shape[:2]
    shape = (imgsz, imgsz) if square else \
        tuple(int(v) for v in A.rect_batches(np.array([[w0, h0]]), 1, imgsz, stride, pad=0.5)[2][0])
    img, _, _, shapes = fit_letterbox(resize_long_side(im0, imgsz, augment=False), (h0, w0), shape, scaleup=False)
    return torch.from_numpy(np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1))), shapes


def _images(gpu_augment: bool, hyp: Mapping[str, float]) -> Any:
    if not gpu_augment:
        return OpenCVImages
    if hyp["copy_paste"]:
        raise ValueError(f"data.gpu_augment=true: hyp.copy_paste={hyp['copy_paste']} pastes by the pixels in the "
                         "worker; use hyp.copy_paste=0 or data.gpu_augment=false")
    from yolo_exp.data.gpu_augment import DeviceImages

    return DeviceImages


def collate(batch: Sequence[Sample]) -> tuple[Any, torch.Tensor, tuple[str, ...], tuple[Any, ...]]:
    """Stack images (or pack the device path's records); number each target row with its image's position."""
    imgs, targets, paths, shapes = zip(*batch)
    for i, t in enumerate(targets):
        t[:, 0] = i
    if not isinstance(imgs[0], torch.Tensor):
        from yolo_exp.data.gpu_augment import pack

        return pack(imgs), torch.cat(targets, 0), paths, shapes
    return channels_last_stack(imgs), torch.cat(targets, 0), paths, shapes


def channels_last_stack(imgs: Sequence[torch.Tensor]) -> torch.Tensor:
    """(B, 3, H, W) images in channels-last memory (one copy of HWC pixels; a CHW image is transposed on the way),
    which is the layout the channels-last model takes as is."""
    return torch.stack([im.permute(1, 2, 0) for im in imgs], 0).permute(0, 3, 1, 2)
