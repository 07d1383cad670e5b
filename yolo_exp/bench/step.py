"""`bench step`: the model step alone (forward, loss, backward, optimizer, EMA) on synthetic tensors."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from yolo_exp.bench.profiling import peak_rss_gib


def _synthetic_targets(bs: int, nc: int, g: Any) -> Any:
    """8 random boxes per image, (n, 6) [image, class, cx, cy, w, h] normalised, as the loader gives them."""
    import torch

    n = 8 * bs
    return torch.cat([torch.randint(0, bs, (n, 1), generator=g).float(),
                      torch.randint(0, nc, (n, 1), generator=g).float(),
                      torch.rand(n, 2, generator=g) * 0.8 + 0.1, torch.rand(n, 2, generator=g) * 0.3 + 0.02], 1)


def bench_step(cfg, iters: int = 20, warmup: int = 5, profile: Path | None = None,
               peak_tflops: float | None = None) -> dict[str, Any]:
    """Model-only forward + loss + backward + optimizer step + EMA on synthetic tensors: the loop's compute ceiling,
    with its model FLOPs utilisation; ``profile`` (a folder) adds torch.profiler's top kernels and the GPU's busy
    fraction over a few more steps."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from yolo_exp.bench import profiling
    from yolo_exp.build import accelerator, config_model
    from yolo_exp.engine.ema import ModelEMA
    from yolo_exp.engine.optim import build_optimizer, clipped_step
    from yolo_exp.engine.seed import seed_everything
    from yolo_exp.loss.detect import DetectionLoss, scale_hyp_gains

    accel = accelerator(cfg)
    seed_everything(cfg.seed, cfg.deterministic, accel.cudnn_benchmark)  # as the trainer: cuDNN's autotuner
    device = accel.device
    nc, bs, size = 80, cfg.batch_size, cfg.imgsz
    model = accel.place(config_model(cfg, nc)).train()
    hyp = OmegaConf.to_container(cfg.hyp, resolve=True)
    loss_fn = DetectionLoss(model.detect.anchors, nc, scale_hyp_gains(hyp, nc, model.detect.nl, size))
    opt, _ = build_optimizer(instantiate(cfg.optimizer), model, hyp, bs)
    scaler = accel.grad_scaler(fused_optimizer=bool(opt.defaults.get("fused")))
    ema = ModelEMA(model)
    fwd = accel.compiled(model)
    g = torch.Generator().manual_seed(0)
    imgs = accel.images(torch.randint(0, 256, (bs, 3, size, size), generator=g, dtype=torch.uint8))
    targets = _synthetic_targets(bs, nc, g).to(device)

    def step() -> None:
        with accel.autocast():
            preds = fwd(imgs)
        loss, _ = loss_fn([p.float() for p in preds], targets)
        scaler.scale(loss).backward()
        clipped_step(opt, scaler, model, ema)  # the trainer's step

    for _ in range(warmup):
        step()
    profiling.sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    profiling.sync(device)
    dt = time.perf_counter() - t0
    per_image = profiling.train_gflops_per_image(model, size)
    peak = peak_tflops or (profiling.DEFAULT_PEAK_TFLOPS if device.type == "cuda" else None)
    row = {"bench": "step", "images_per_s": iters * bs / dt, "ms_per_iter": 1000 * dt / iters,
           "train_gflops_per_image": per_image, "mfu": profiling.mfu(iters * bs / dt, per_image, peak),
           "peak_gpu_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else 0.0,
           "peak_rss_gib": peak_rss_gib()}
    if profile is not None:
        Path(profile).mkdir(parents=True, exist_ok=True)
        row.update(profiling.profile_steps(step, min(iters, 5), device, Path(profile) / "step_profile.txt"))
    return row
