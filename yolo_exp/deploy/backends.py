"""One inference interface over .pt (ours or YOLOv5's), .onnx (onnxruntime) and .torchscript files.

A backend takes a float BCHW batch in [0, 1] and returns ``(predictions (B, N, 5 + nc) in input pixels, None)``
(a segmentation model's: ``(predictions with mask coefficients, prototypes, None)``), the shape of our model's eval
output, so validation and prediction run every format with the same code. An
exported file carries what inference needs in its metadata (class names, stride, image size, task), so it is
enough on its own.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from yolo_exp.files.limits import check_zip_sizes

EXPORTED = (".onnx", ".torchscript")
META_FILE = "config.json"  # TorchScript extra file holding the metadata


def is_exported(path: str | Path) -> bool:
    return Path(path).suffix.lower() in EXPORTED


class Exported:
    """An exported model: ``names``, ``stride``, ``imgsz``, ``dynamic``; call it like our model in eval mode."""

    exported = True

    def __init__(self, path: str | Path, device: torch.device) -> None:
        self.path, self.device = Path(path), device
        if not self.path.is_file():
            raise FileNotFoundError(f"weights={path}: file not found")
        suffix = self.path.suffix.lower()
        self.session: Any = None
        if suffix == ".onnx":
            import onnxruntime as ort

            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else \
                ["CPUExecutionProvider"]
            self.session = ort.InferenceSession(str(self.path), providers=providers)
            meta = dict(self.session.get_modelmeta().custom_metadata_map)
            self.input = self.session.get_inputs()[0].name
        else:
            files = {META_FILE: ""}
            check_zip_sizes(self.path)  # a TorchScript file is a zip too: its declared sizes before inflating
            # torch calls jit.load deprecated in favour of torch.export, whose files are another format; ours are
            # TorchScript, so on every load the warning would say nothing a user can act on.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", r".*torch\.jit\.load", FutureWarning)
                self.module = torch.jit.load(str(self.path), map_location=device, _extra_files=files)
            meta = json.loads(files[META_FILE] or "{}")
        if "names" not in meta:
            raise ValueError(f"weights={path}: no yolo-exp metadata (names, stride); export it with export.py")
        self.fp16 = meta.get("fp16") == "true"  # every value is a string, as ONNX metadata holds them
        self.names = list(json.loads(meta["names"]))
        self.stride = int(meta["stride"])
        self.imgsz = int(meta["imgsz"])
        self.dynamic = str(meta.get("dynamic", "true")).lower() == "true"
        self.task = meta.get("task", "detect")
        self.nc = len(self.names)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if self.session is not None:
            arr = x.cpu().numpy().astype("float16" if self.fp16 else "float32")
            out = [torch.from_numpy(o).to(x.device) for o in self.session.run(None, {self.input: arr})]
        else:
            with torch.no_grad():
                out = self.module(x.half() if self.fp16 else x.float())
            out = list(out) if isinstance(out, (tuple, list)) else [out]
        return (*(o.float() for o in out), None)


def max_stride(model: Any) -> int:
    """The largest stride of our model (a tensor per level) or of an exported one (from its metadata)."""
    stride = model.stride
    return int(stride.max()) if isinstance(stride, torch.Tensor) else int(stride)


def load_backend(path: str | Path, device: torch.device, log: logging.Logger,
                 data_nc: int | None = None, names: list[str] | None = None) -> tuple[Any, list[str]]:
    """(model or exported backend, class names) for any weights file; ``data_nc`` checks the class count."""
    if not is_exported(path):
        from yolo_exp.build import checkpoint_model

        model, own = checkpoint_model(path, log, data_nc, names)
        return model.to(device), own
    backend = Exported(path, device)
    if data_nc is not None and backend.nc != data_nc:
        from yolo_exp.config.validate import ConfigError

        raise ConfigError(f"weights={path} has nc={backend.nc} but the data has nc={data_nc}: validate on the data "
                          "the weights were trained for")
    return backend, list(names or backend.names)
