"""The built ``device`` group: where a command computes and how (autocast, GradScaler, NHWC, compile).

``conf/device/*.yaml`` names :class:`Accelerator` as its ``_target_``; a user may point it at a subclass of their
own (another autocast policy, say) and every command (train, val, predict, export, bench) uses it.
"""
from __future__ import annotations

from typing import Any

import torch


def _value(x: Any) -> str:  # enums from the typed config, or plain strings from a dict
    return str(getattr(x, "value", x))


class Accelerator:
    """Device choice and mixed precision. Autocast is fp16 (default) or bf16 on CUDA; on CPU only when bf16 is asked
    for (``amp_dtype=bf16``), since fp16 autocast on CPU is slow and bf16 changes gradients by a few percent
    (docs/performance.md). ``cudnn_benchmark`` is applied by the trainer's seeding (it conflicts with determinism)."""

    def __init__(self, type: Any = "auto", index: int = 0, amp: bool = True,  # noqa: A002 - the config's key
                 amp_dtype: Any = "fp16", channels_last: bool = True, cudnn_benchmark: bool = False,
                 compile: bool = False, compile_mode: str = "default", gpus: Any = None,  # noqa: A002
                 processes: int = 1) -> None:  # gpus, processes: how many processes train (engine/launch.py)
        kind = _value(type)
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device=cuda: no CUDA device is available (use device=cpu or device=auto)")
        if kind == "auto":
            kind = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(f"cuda:{index}" if kind == "cuda" else "cpu")
        bf16 = _value(amp_dtype) == "bf16"
        self.amp = bool(amp) and (self.device.type == "cuda" or bf16)
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.channels_last, self.cudnn_benchmark = bool(channels_last), bool(cudnn_benchmark)
        self.compile, self.compile_mode = bool(compile), compile_mode

    def training_only(self) -> list[str]:
        """A line for each option set here that only training uses: predict and export say so, not ignore it."""
        notes = [f"device.{k}=true: applies to training only" for k, on in
                 (("compile", self.compile), ("cudnn_benchmark", self.cudnn_benchmark)) if on]
        if self.amp_dtype == torch.bfloat16:
            notes.append("device.amp_dtype=bf16: applies to training only (half=true: FP16 inference on CUDA)")
        return notes

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def grad_scaler(self, fused_optimizer: bool = False) -> torch.amp.GradScaler:
        """Loss scaling is for fp16 autocast (bf16 has fp32's range). A fused optimizer gets a scaler in every
        precision, at scale 1 (a power of two: unscaling is exact): it hands the optimizer its non-finite flag, so
        a step with NaN/Inf gradients is skipped on the device instead of the host checking every step."""
        if self.amp and self.amp_dtype == torch.float16:
            return torch.amp.GradScaler(self.device.type)
        return torch.amp.GradScaler(self.device.type, init_scale=1.0, growth_interval=2**30, enabled=fused_optimizer)

    def memory_probe(self, model: torch.nn.Module, imgsz: int) -> tuple[Any, float] | None:
        """For AutoBatch: (probe: batch -> GiB a training step takes, or None when out of memory; free GiB), or
        None where memory cannot be measured (anything but CUDA). A subclass may measure another device."""
        if not self.cuda:
            return None
        import copy

        from yolo_exp.engine.autobatch import cuda_probe

        free = torch.cuda.mem_get_info(self.device)[0] / 2**30
        # a copy: the profiling steps must not move the model's BatchNorm statistics
        return cuda_probe(copy.deepcopy(model).train(), imgsz, self.device, self.autocast), free

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def compiled(self, model: torch.nn.Module) -> torch.nn.Module:
        """``torch.compile`` when ``compile=true`` (``compile_mode=reduce-overhead`` adds CUDA graphs)."""
        return torch.compile(model, mode=self.compile_mode) if self.compile else model

    def images(self, imgs: Any) -> torch.Tensor:
        """A uint8 batch from the loader as the model's float input in [0, 1] (moved without waiting); a
        ``data.gpu_augment`` batch is augmented here, on the device."""
        imgs = imgs.render(self.device) if hasattr(imgs, "render") else imgs.to(self.device, non_blocking=True)
        imgs = imgs.float() / 255
        return imgs.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
