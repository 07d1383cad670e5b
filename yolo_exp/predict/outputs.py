"""What predict.py writes into its run folder: annotated images and videos, YOLO labels, crops, predictions.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from yolo_exp.data.files import write_image
from yolo_exp.files.atomic import atomic_write_text
from yolo_exp.files.paths import UniqueNames, safe_name
from yolo_exp.metrics.coco import rle_encode
from yolo_exp.ops.masks import paste, patch_polygon
from yolo_exp.predict.coco_results import CocoIds, coco_results
from yolo_exp.report.images import blend_masks, draw_boxes, palette


class Outputs:
    def __init__(self, run_dir: Path, names: Sequence[str], save_img: bool = True, save_txt: bool = True,
                 save_conf: bool = False, save_crop: bool = False, line_width: int | None = None,
                 vid_stride: int = 1, coco: CocoIds | None = None) -> None:
        """``coco``: predictions.json in COCO's results format, with these ids (else one record per frame)."""
        self.run_dir, self.names, self.coco = Path(run_dir), list(names), coco
        self.save_img, self.save_txt, self.save_conf, self.save_crop = save_img, save_txt, save_conf, save_crop
        self.line_width, self.vid_stride = line_width, vid_stride
        self.records: list[dict[str, Any]] = []
        self.videos: dict[str, Any] = {}  # source -> cv2.VideoWriter
        self.skipped: list[str] = []
        self.stems = UniqueNames()  # source path -> its file stem in the run folder
        self.class_dirs = UniqueNames()  # class id -> its folder under crops/

    def _stem(self, path: str) -> str:
        """File names in the run folder: the source's own (made safe: sources and streams are named by files and
        users), numbered when two sources share one."""
        return self.stems(path, Path(path).stem if not path.isdigit() else f"camera{path}")

    def add(self, frame: Any, det: np.ndarray, masks: list | None = None) -> None:
        """``det`` (n, 6): x1, y1, x2, y2, conf, class in the frame's own pixels; ``masks`` (a segmentation
        model's): per box (top, left, bool patch) at the frame's size, written as RLE in predictions.json, as
        polygons in the labels (YOLO segmentation rows) and drawn."""
        h, w = frame.image.shape[:2]
        stem = self._stem(frame.path) + (f"_{frame.index}" if frame.index is not None else "")
        drawn = frame.image.copy() if self.save_img else None
        boxes = [{"xyxy": [round(float(v), 2) for v in d[:4]], "conf": round(float(d[4]), 5),
                  "class": int(d[5]), "name": self._name(int(d[5]))} for d in det]
        colours = palette(max(len(self.names), int(det[:, 5].max(initial=0)) + 1))
        for box, patch in zip(boxes, masks or ()):  # one frame-size mask at a time
            full = paste(patch, (h, w))
            box["mask"] = rle_encode(full)
            if drawn is not None:
                blend_masks(drawn, full[None], np.array([box["class"]]), colours)
        self.records.append({"file": frame.path, "frame": frame.index, "width": w, "height": h, "boxes": boxes})
        if self.save_txt:
            self._labels(stem, det, w, h, masks)
        if self.save_crop:
            self._crops(stem, frame.image, det)
        if self.save_img:
            lw = self.line_width or max(round((h + w) / 2 * 0.003), 2)
            drawn = draw_boxes(drawn, det[:, :4], det[:, 5], det[:, 4], self.names, lw)
            if frame.index is None:
                write_image(self.run_dir / safe_name(stem, Path(frame.path).suffix or ".jpg"), drawn)
            else:
                self._video(frame, drawn)

    def _name(self, c: int) -> str:
        return self.names[c] if c < len(self.names) else str(c)

    def _labels(self, stem: str, det: np.ndarray, w: int, h: int, masks: list | None = None) -> None:
        """YOLO rows ``class cx cy w h [conf]``, or with masks YOLO segmentation rows ``class x1 y1 x2 y2 ...
        [conf]`` (the outline of each mask's largest region), normalised to the frame."""
        folder = self.run_dir / "labels"
        folder.mkdir(exist_ok=True)
        rows = []
        for k, (x1, y1, x2, y2, conf, c) in enumerate(det):
            cells = [f"{(x1 + x2) / 2 / w:.6f}", f"{(y1 + y2) / 2 / h:.6f}", f"{(x2 - x1) / w:.6f}",
                     f"{(y2 - y1) / h:.6f}"]
            if masks is not None:
                polygon = patch_polygon(masks[k]) / (w, h)
                if len(polygon) < 3:
                    continue  # nothing of the mask is left inside its box
                cells = [f"{v:.6f}" for v in polygon.ravel()]
            rows.append(" ".join([str(int(c)), *cells, *([f"{conf:.5f}"] if self.save_conf else [])]))
        (folder / safe_name(stem, ".txt")).write_text("".join(r + "\n" for r in rows))

    def _crops(self, stem: str, im: np.ndarray, det: np.ndarray) -> None:
        for k, (x1, y1, x2, y2, _, c) in enumerate(det):
            crop = im[int(max(y1, 0)):int(np.ceil(y2)), int(max(x1, 0)):int(np.ceil(x2))]
            if crop.size:
                folder = self.run_dir / "crops" / self.class_dirs(int(c), self._name(int(c)))  # names: the weights'
                folder.mkdir(parents=True, exist_ok=True)
                write_image(folder / safe_name(f"{stem}_{k}", ".jpg"), crop)

    def _video(self, frame: Any, drawn: np.ndarray) -> None:
        import cv2

        writer = self.videos.get(frame.path)
        if writer is None:
            h, w = drawn.shape[:2]
            path = self.run_dir / safe_name(self._stem(frame.path), ".mp4")
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), frame.fps / self.vid_stride, (w, h))
            self.videos[frame.path] = writer
        writer.write(drawn)

    def close(self) -> Path:
        """Finish the videos and write predictions.json (also after Ctrl-C: what was seen is kept)."""
        for writer in self.videos.values():
            writer.release()
        self.videos.clear()
        path = self.run_dir / "predictions.json"
        rows = self.records if self.coco is None else coco_results(self.records, self.coco)
        atomic_write_text(path, "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")  # a record a line
        return path
