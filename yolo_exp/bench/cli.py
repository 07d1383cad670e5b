"""Benchmarks: ``python -m yolo_exp.bench {train,step,data,val,predict,scale} [overrides...] [--json FILE]``.

Overrides are the training config's (model=yolov5s imgsz=640 batch_size=64 device=cuda data=...), so a benchmark
measures exactly what a run with the same command line would do. Speed lives here, not in the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable


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
    parser.add_argument("what", choices=["train", "step", "data", "val", "predict", "scale"])
    parser.add_argument("overrides", nargs="*", help="training config overrides, e.g. model=yolov5s imgsz=640")
    parser.add_argument("--iters", type=int, default=20, help="step: timed iterations")
    parser.add_argument("--epochs", type=int, default=3, help="train: epochs (the first is excluded)")
    parser.add_argument("--workers", type=str, default="0,2", help="data: comma-separated worker counts")
    parser.add_argument("--batches", type=int, default=30, help="data: timed batches per worker count")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU intra-op threads of the main process (0: torch's default)")
    parser.add_argument("--source", type=str, default=None, help="predict: images (default: the data's val)")
    parser.add_argument("--formats", type=str, default="pt,onnx", help="predict: pt,onnx,torchscript")
    parser.add_argument("--images", type=str, default="10000,100000", help="scale: comma-separated train sizes")
    parser.add_argument("--val-images", type=int, default=5000, help="scale: validation images")
    parser.add_argument("--dir", type=Path, default=None, help="scale: generate the data here (default: a temp dir)")
    parser.add_argument("--yolov5", type=str, default=None,
                        help="scale, data: YOLOv5's Python (e.g. /work/oracle/venv/bin/python) for its side")
    parser.add_argument("--pairs", type=int, default=1, help="data --yolov5: interleaved pairs per worker count")
    parser.add_argument("--stages", action="store_true",
                        help="data: the cost of each step of one augmented sample instead (one process)")
    parser.add_argument("--samples", type=int, default=200, help="data --stages: samples timed")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--profile", type=Path, default=None,
                        help="step: also profile a few steps, the top kernels written to this folder")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="step: the device's peak TFLOP/s for MFU (CUDA default: %(default)s -> 790)")
    args = parser.parse_args(argv)

    from yolo_exp.bench.data import bench_data
    from yolo_exp.bench.inference import bench_predict, bench_val
    from yolo_exp.bench.scale import bench_scale
    from yolo_exp.bench.step import bench_step
    from yolo_exp.bench.train import bench_train
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.config.validate import ConfigError

    try:
        cfg = compose_checked(args.overrides, check_paths=args.what not in ("step", "scale"))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = {"overrides": args.overrides, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            **machine_meta(set_threads(args.threads))}
    runners: dict[str, Callable[[], Any]] = {
        "step": lambda: [bench_step(cfg, iters=args.iters, profile=args.profile, peak_tflops=args.peak_tflops)],
        "train": lambda: [bench_train(cfg, epochs=args.epochs, t0=t0)],
        "data": lambda: bench_data(cfg, [int(w) for w in args.workers.split(",")], args.batches, args.yolov5,
                                   args.pairs, args.samples if args.stages else 0),
        "val": lambda: [bench_val(cfg)],
        "predict": lambda: bench_predict(cfg, args.source, args.formats.split(",")),
        "scale": lambda: bench_scale([int(n) for n in args.images.split(",")], args.dir, args.val_images,
                                     cfg.imgsz, cfg.workers, args.yolov5, args.overrides),
    }
    rows = runners[args.what]()
    meta["loadavg_after"] = os.getloadavg()[0]
    rows = [{**r} for r in rows]
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print_table(rows)
    return 0
