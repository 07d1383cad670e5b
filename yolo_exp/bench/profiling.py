"""Where a training step's time goes, for the benchmarks: torch.profiler over a few steps (the top kernels or ops
and how busy the GPU was) and the model FLOPs utilisation of a throughput."""
from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# Peak dense bf16/fp16 tensor throughput assumed for MFU when the command line gives none (an H100/H200 SXM
# sustains about this much on large GEMMs; the spec sheet says 989).
DEFAULT_PEAK_TFLOPS = 790.0


def peak_rss_gib() -> float:
    """This process's peak resident memory, GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_gflops_per_image(model: torch.nn.Module, imgsz: int) -> float:
    """Forward GFLOPs x 3: the backward pass costs about twice the forward (grad of inputs and of weights)."""
    from yolo_exp.models.summary import gflops

    return 3 * gflops(model, imgsz)


def mfu(images_per_s: float, gflops_per_image: float, peak_tflops: float | None) -> float | None:
    """Achieved FLOP/s over the device's peak (None without a peak, e.g. on a CPU)."""
    return images_per_s * gflops_per_image / (peak_tflops * 1e3) if peak_tflops else None


def _device_us(event: Any) -> float:
    return float(getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0.0))


def profile_steps(step: Callable[[], None], steps: int, device: torch.device, out: Path | None = None,
                  top: int = 25) -> dict[str, Any]:
    """Run ``step`` ``steps`` times under torch.profiler; write the top ops/kernels to ``out`` (a text table) and
    return the GPU busy fraction (kernel time over wall time; None on a CPU) and the wall time per step."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    sync(device)
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    kernel_us = sum(_device_us(e) for e in events if e.device_type == DeviceType.CUDA) if cuda else None
    if out is not None:
        sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        try:
            table = events.table(sort_by=sort, row_limit=top)
        except (AttributeError, KeyError):  # newer torch names it self_device_time_total
            table = events.table(sort_by="self_device_time_total", row_limit=top)
        Path(out).write_text(table)
    return {"profiled_ms_per_step": 1000 * wall / steps,
            "gpu_busy": kernel_us / (wall * 1e6) if kernel_us is not None else None}
