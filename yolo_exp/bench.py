"""Throughput benchmarks: ``python -m yolo_exp.bench {train,step,data,val,predict} [overrides...] [--json FILE]``.

Overrides are the training config's (model=yolov5s imgsz=640 batch_size=64 device=cuda data=...), so a benchmark
measures exactly what a run with the same command line would do. Speed lives here, not in the tests.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

T_START = time.perf_counter()  # before the heavy imports: time to first iteration includes them
# Read by OpenMP when torch loads, so it must precede every torch import (train.py does the same): idle threads
# sleep instead of spinning, which keeps a busy machine (data workers, other jobs) from stalling each op.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


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

    from yolo_exp import profiling
    from yolo_exp.build import accelerator, config_model, seed_everything
    from yolo_exp.engine.ema import ModelEMA
    from yolo_exp.engine.optim import build_optimizer, clipped_step
    from yolo_exp.loss import DetectionLoss, scale_hyp_gains

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


@dataclass
class _Timings:
    """What a timed training run records: per epoch (seconds, images), the time to the first optimizer step, per
    epoch the (time, batch size) of every loss call, and per epoch the seconds spent waiting for batches."""

    t0: float
    epochs: list[tuple[float, int]] = field(default_factory=list)
    first_iter: list[float] = field(default_factory=list)
    stamps: list[list[tuple[float, int]]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def waited(self, batches: Any) -> Any:
        """The batches, timing each wait for the next one."""
        it = iter(batches)
        while True:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            self.waits[-1] += time.perf_counter() - t
            yield batch


def _timed_fit(cfg, timing: _Timings) -> Any:
    """Train (no validation, no checkpoints) while recording ``timing``; returns the device."""
    import torch

    from yolo_exp.engine.trainer import Trainer
    from yolo_exp.profiling import sync

    threads = torch.get_num_threads()  # set by main(); kept even if the trainer sets its own

    class TimedTrainer(Trainer):
        def train_epoch(self, epoch, nb, batches=None):  # noqa: ANN001, ANN202
            sync(self.device)
            timing.stamps.append([])
            timing.waits.append(0.0)
            t0 = time.perf_counter()
            batches = batches if batches is not None else self.epoch_batches(epoch)
            out = super().train_epoch(epoch, nb, timing.waited(batches))
            sync(self.device)
            timing.epochs.append((time.perf_counter() - t0, len(self.train_loader.dataset)))
            return out

        def optimizer_step(self) -> None:
            if not timing.first_iter:
                timing.first_iter.append(time.perf_counter() - timing.t0)
            super().optimizer_step()

        def validate_epoch(self, epoch, final_epoch):  # noqa: ANN001, ANN202
            return {}, [0.0, 0.0, 0.0]

        def finish(self, result) -> None:  # noqa: ANN001
            pass

    with tempfile.TemporaryDirectory() as tmp:
        trainer = TimedTrainer.from_config(cfg, Path(tmp))
        torch.set_num_threads(threads)
        loss_fn = trainer.compute_loss

        def timed_loss(preds, targets):  # noqa: ANN001, ANN202 - host time only: adds no synchronisation
            timing.stamps[-1].append((time.perf_counter(), preds[0].shape[0]))
            return loss_fn(preds, targets)

        trainer.compute_loss = timed_loss
        trainer.fit()
    return trainer.device


def bench_train(cfg, epochs: int = 3, t0: float | None = None) -> dict[str, Any]:
    """The real training loop on a dataset: images/s in steady state (first epoch and validation excluded), and
    the share of that time the loop waited for the data loader (``data_wait``: the workers cannot keep up).

    Time to first iteration counts from ``t0``: the process start for the command (imports included), the call
    itself when called in-process (a test, a notebook).
    """
    import torch
    from omegaconf import open_dict

    timing = _Timings(time.perf_counter() if t0 is None else t0)
    with open_dict(cfg):
        cfg.epochs, cfg.noplots, cfg.autoanchor, cfg.patience, cfg.nosave = epochs, True, False, 0, True
    dev = _timed_fit(cfg, timing)
    steady = timing.epochs[1:] or timing.epochs
    total_s, total_n = sum(t for t, _ in steady), sum(n for _, n in steady)
    # Within epochs (first loss call to last, later epochs): without the loader's refill at each epoch start,
    # which dominates on a fast GPU when an epoch has only a few batches.
    spans = [(e[-1][0] - e[0][0], sum(n for _, n in e[:-1])) for e in timing.stamps[1:] or timing.stamps
             if len(e) > 1]
    return {"bench": "train", "images_per_s": total_n / total_s,
            "images_per_s_in_epoch": sum(n for _, n in spans) / sum(t for t, _ in spans) if spans else None,
            "data_wait": sum(timing.waits[1:] or timing.waits) / total_s,
            "epoch_s": [round(t, 2) for t, _ in timing.epochs],
            "time_to_first_iter_s": timing.first_iter[0] if timing.first_iter else None,
            "peak_gpu_gb": torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else 0.0,
            "peak_rss_gib": peak_rss_gib()}


def bench_data(cfg, workers: list[int], batches: int = 30) -> list[dict[str, Any]]:
    """Augmented training images/s of the loader alone, per worker count (yolo_exp.data.bench)."""
    from omegaconf import OmegaConf

    from yolo_exp.data.bench import bench_loader
    from yolo_exp.data.spec import resolve_data

    spec = resolve_data(OmegaConf.to_container(cfg.data, resolve=True))
    rows = bench_loader(spec.train, cfg.imgsz, cfg.batch_size, workers, hyp=OmegaConf.to_container(cfg.hyp),
                        n_batches=batches, nc=spec.nc, cache=str(getattr(cfg.cache, "value", cfg.cache)))
    return [{"bench": "data", **row} for row in rows]


def bench_val(cfg) -> dict[str, Any]:
    """Validation cost per image: pre-process, inference, NMS, metrics."""
    from yolo_exp.build import accelerator, checkpoint_model, run_data, task_dataset, train_model
    from yolo_exp.config.validate import model_task
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.engine.validate import ValSettings, validate

    accel = accelerator(cfg)
    device = accel.device
    task = model_task(cfg)
    data = run_data(cfg, task)
    spec = data.spec
    log = logging.getLogger("yolo_exp.bench")
    # the checkpoint's own architecture, as val.py builds it; else the config's model, untrained
    model = checkpoint_model(cfg.weights, log, data.nc, data.names)[0] if cfg.weights else \
        train_model(cfg, data, False, log)
    model = model.to(device).eval()
    loader, _ = create_dataloader(spec.val, cfg.imgsz, cfg.batch_size, int(model.stride.max()), data.nc,
                                  rect=True, pad=0.5, workers=cfg.workers, single_cls=cfg.single_cls,
                                  cache_dir=data.cache_dir, dataset_class=task_dataset(spec, model.task))
    t0 = time.perf_counter()
    res = validate(model, loader, data.names, device, ValSettings.of(cfg, accel.amp))
    wall = time.perf_counter() - t0
    n = len(loader.dataset)
    masks = {} if res.mask is None else {"mask_map50": res.mask.map50, "mask_map": res.mask.map}
    return {"bench": "val", "ms_per_image_total": 1000 * wall / n, **{f"ms_{k}": v for k, v in res.speed.items()},
            "map50": res.map50, "map": res.map, **masks}


def bench_predict(cfg, source: str | None, formats: list[str]) -> list[dict[str, Any]]:
    """predict.py's images/s end to end (decode, pre-process, inference, NMS, drawing, label files) per weights
    format: the .pt as given, .onnx/.torchscript exported from it first. ``source``: images (default: the data's
    val images)."""
    from yolo_exp.build import accelerator, run_data
    from yolo_exp.config.cli import compose_checked
    from yolo_exp.deploy.export import export
    from yolo_exp.predict.outputs import Outputs
    from yolo_exp.predict.run import Detector
    from yolo_exp.predict.sources import frames

    if not cfg.weights:
        raise SystemExit("bench predict: give weights=PATH (ours or an official YOLOv5 .pt)")
    source = source or str(run_data(cfg).spec.val[0])
    device_args = [f"device={getattr(cfg.device.type, 'value', cfg.device.type)}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            weights = str(cfg.weights)
            if fmt != "pt":
                ecfg = compose_checked([f"weights={weights}", f"format={fmt}", f"imgsz={cfg.imgsz}", *device_args],
                                       config_name="export")
                weights = str(export(ecfg, Path(tmp)))
            pcfg = compose_checked([f"weights={weights}", f"source={source}", f"imgsz={cfg.imgsz}", *device_args],
                                   config_name="predict")
            detector = Detector(pcfg, accelerator(pcfg))
            outputs = Outputs(Path(tmp) / fmt, detector.names)
            outputs.run_dir.mkdir()
            n, t0 = 0, time.perf_counter()
            for frame in frames(source):
                if frame.image is not None:
                    outputs.add(frame, *detector([frame.image])[0])
                    n += 1
            wall = time.perf_counter() - t0
            rows.append({"bench": "predict", "format": fmt, "images": n, "images_per_s": n / wall,
                         "ms_per_image": 1000 * wall / max(n, 1)})
    return rows


def set_threads(threads: int) -> int:
    """Main-process intra-op threads: as given, else torch's default (one per core, or OMP_NUM_THREADS)."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def machine_meta(threads: int) -> dict[str, Any]:
    """What the figures depend on; the load average says how much other work shared the machine."""
    import platform

    import torch

    return {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "threads": threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "loadavg_before": os.getloadavg()[0]}


def print_table(rows: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(" | ".join(f"{k:>14s}" for k in keys))
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k, "")
            cells.append(f"{v:>14.4g}" if isinstance(v, float) else f"{str(v):>14s}")
        print(" | ".join(cells))


def main(argv: list[str] | None = None, t0: float | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yolo_exp.bench", description=__doc__)
    parser.add_argument("what", choices=["train", "step", "data", "val", "predict"])
    parser.add_argument("overrides", nargs="*", help="training config overrides, e.g. model=yolov5s imgsz=640")
    parser.add_argument("--iters", type=int, default=20, help="step: timed iterations")
    parser.add_argument("--epochs", type=int, default=3, help="train: epochs (the first is excluded)")
    parser.add_argument("--workers", type=str, default="0,2", help="data: comma-separated worker counts")
    parser.add_argument("--batches", type=int, default=30, help="data: timed batches per worker count")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU intra-op threads of the main process (0: torch's default)")
    parser.add_argument("--source", type=str, default=None, help="predict: images (default: the data's val)")
    parser.add_argument("--formats", type=str, default="pt,onnx", help="predict: pt,onnx,torchscript")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--profile", type=Path, default=None,
                        help="step: also profile a few steps, the top kernels written to this folder")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="step: the device's peak TFLOP/s for MFU (CUDA default: %(default)s -> 790)")
    args = parser.parse_args(argv)

    from yolo_exp.config.cli import compose_checked
    from yolo_exp.config.validate import ConfigError

    try:
        cfg = compose_checked(args.overrides, check_paths=args.what != "step")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = {"overrides": args.overrides, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            **machine_meta(set_threads(args.threads))}
    runners: dict[str, Callable[[], Any]] = {
        "step": lambda: [bench_step(cfg, iters=args.iters, profile=args.profile, peak_tflops=args.peak_tflops)],
        "train": lambda: [bench_train(cfg, epochs=args.epochs, t0=t0)],
        "data": lambda: bench_data(cfg, [int(w) for w in args.workers.split(",")], args.batches),
        "val": lambda: [bench_val(cfg)],
        "predict": lambda: bench_predict(cfg, args.source, args.formats.split(",")),
    }
    rows = runners[args.what]()
    meta["loadavg_after"] = os.getloadavg()[0]
    rows = [{**r} for r in rows]
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(t0=T_START))
