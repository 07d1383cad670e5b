"""export.py's job: a checkpoint (ours or YOLOv5's) to ONNX or TorchScript, checked against PyTorch on real images.

The file carries its metadata (names, stride, imgsz, task, dynamic, fp16) so that val.py and predict.py need only
it. After writing, the exported model runs on a real batch (validation's pre-processing of images from
``source``, else the embedded demo's) and the largest difference to PyTorch's output is printed; above
``tolerance`` (pixels and scores of the raw predictions) the command fails and the file is removed.
"""
from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from yolo_exp.build import accelerator, checkpoint_model
from yolo_exp.deploy.backends import META_FILE, Exported
from yolo_exp.engine.validate import inference_copy
from yolo_exp.files.atomic import atomic_write
from yolo_exp.files.paths import safe_name

LOG = logging.getLogger("yolo_exp.export")
FORMATS = ("onnx", "torchscript")


class _Predictions(torch.nn.Module):
    """The eval model's predictions (B, N, 5 + nc) in input pixels (what every backend returns); a segmentation
    model's rows end in their mask coefficients and its prototypes (B, nm, H/4, W/4) are a second output."""

    def __init__(self, net: torch.nn.Module, segment: bool) -> None:
        super().__init__()
        self.net, self.segment = net, segment

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)
        return (out[0], out[1]) if self.segment else out[0]


def sample_batch(source: str | None, imgsz: int, stride: int, n: int = 2) -> torch.Tensor:
    """``n`` real images prepared as validation prepares them, letterboxed to one ``imgsz`` square."""
    import numpy as np

    from yolo_exp.data.augment import letterbox
    from yolo_exp.data.files import is_image, list_images, read_image, resize_long_side

    if source is None:  # the embedded demo's val images (generated on first use)
        from dataclasses import asdict

        from yolo_exp.config.schema import ShapesConfig
        from yolo_exp.data.spec import resolve_data

        files = list_images(list(resolve_data({"shapes": asdict(ShapesConfig())}).val))[:n]
    else:  # what predict.py reads (file, folder, glob, list); a missing or empty one is named there
        from yolo_exp.predict.sources import expand

        files = [f for f in expand(source) if is_image(f)][:n]
        if not files:
            raise ValueError(f"source={source}: no images to check the export on (videos are not read for the "
                             "check; give images, a folder or a glob of them)")
    ims = [letterbox(resize_long_side(read_image(f), imgsz, False), imgsz, scaleup=False)[0] for f in files]
    arr = np.stack([im[..., ::-1].transpose(2, 0, 1) for im in ims])
    return torch.from_numpy(np.ascontiguousarray(arr)).float() / 255


def unused_options(cfg: DictConfig, fmt: str, device: torch.device) -> list[str]:
    """One line for each option that cannot apply to this format or device, rather than silence."""
    from yolo_exp.config.commands import ExportRunConfig

    notes = []
    if cfg.half and device.type != "cuda":
        notes.append(f"half=true: FP16 export needs CUDA; exporting FP32 on {device.type} (the file says fp16=false)")
    if fmt != "onnx" and cfg.opset != ExportRunConfig.opset:
        notes.append(f"opset={cfg.opset}: applies to ONNX only, not format={fmt}")
    return notes


def export(cfg: DictConfig, run_dir: Path) -> Path:
    fmt = str(getattr(cfg.format, "value", cfg.format))
    accel = accelerator(cfg)
    device = accel.device
    model, names = checkpoint_model(cfg.weights, LOG)
    stride = int(model.stride.max())
    imgsz = max(math.ceil(cfg.imgsz / stride) * stride, 2 * stride)
    half = bool(cfg.half) and device.type == "cuda"
    for note in accel.training_only() + unused_options(cfg, fmt, device):
        LOG.warning(note)
    segment = model.task == "segment"
    net = _Predictions(inference_copy(model.to(device), half), segment).eval()
    x = sample_batch(cfg.source, imgsz, stride, n=2 if cfg.dynamic else 1).to(device)  # static: batch of 1
    x = x.half() if half else x
    meta = {"names": json.dumps(names), "stride": str(stride), "imgsz": str(imgsz), "task": model.task,
            "dynamic": str(bool(cfg.dynamic)).lower(), "fp16": str(half).lower(),
            "source": Path(cfg.weights).name}
    out = run_dir / safe_name(Path(cfg.weights).stem, f".{fmt}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape arithmetic, expected here
        if fmt == "onnx":
            _onnx(net, x[:1], out, meta, cfg)
        else:
            traced = torch.jit.trace(net, x[:1], check_trace=False)
            atomic_write(out, lambda f: torch.jit.save(traced, f, _extra_files={META_FILE: json.dumps(meta)}))
        expected = net(x) if segment else (net(x),)
    got = Exported(out, device)(x.float())
    diff = max(float((g - e.float()).abs().max()) for g, e in zip(got, expected))
    LOG.info("Exported %s (%.1f MB); largest difference to PyTorch on %d real image%s: %.3g (tolerance %g)", out,
             out.stat().st_size / 1e6, len(x), "s" * (len(x) != 1), diff, cfg.tolerance)
    if not diff <= cfg.tolerance:
        out.unlink()
        raise ValueError(f"format={fmt}: the exported model differs from PyTorch by {diff:.3g} > tolerance="
                         f"{cfg.tolerance}; the file is removed")
    return out


def _onnx(net: torch.nn.Module, x: torch.Tensor, out: Path, meta: dict[str, Any], cfg: DictConfig) -> None:
    import onnx

    outputs = ["output0", "output1"] if meta["task"] == "segment" else ["output0"]
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "anchors"},
            "output1": {0: "batch", 2: "mask_height", 3: "mask_width"}}
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(net, (x,), str(tmp), dynamo=False, opset_version=int(cfg.opset), input_names=["images"],
                      output_names=outputs,
                      dynamic_axes={k: axes[k] for k in ("images", *outputs)} if cfg.dynamic else None)
    proto = onnx.load(str(tmp))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    tmp.unlink()
    atomic_write(out, lambda f: f.write(proto.SerializeToString()))
