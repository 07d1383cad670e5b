"""YOLOv5's training loop as the oracle for our Trainer: the same recorded batches, the same initial weights.

Step 1, in a venv with the `yolov5` package (the oracle, outside the repo; TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1):
    python bench/replay_parity.py yolov5 DATA_DIR OUT [EPOCHS]
builds YOLOv5's model for DATA_DIR's classes from yolov5n.pt as its train.py does, records EPOCHS (default 2)
epochs of its augmented training batches and runs train.py's loop on them (warmup, accumulation, clipping, EMA,
LR schedule; written out here, as train.py has no entry point for it): OUT/init.pt (the initial weights) and
OUT/steps.pt (the batches, and the loss, LRs and accumulation of every iteration). Step 2, in our environment:
    python bench/replay_parity.py ours DATA_DIR OUT [overrides...]
runs our Trainer from init.pt on the same batches (validation off) and prints both per iteration (docs/quality.md).
REPLAY_WARMUP=N (both steps) ends warmup after N iterations instead of train.py's max(3 epochs, 100), so that a short
replay also reaches full learning rates, momentum and weight decay. REPLAY_IMGSZ (320) and REPLAY_EPOCHS (10, the
schedule's length) set the run (both steps alike); REPLAY_SCRATCH=1 starts from YOLOv5's freshly built yolov5n
(train.py with --weights '' --cfg yolov5n.yaml, its half().float() included) instead of yolov5n.pt.
DATA_DIR holds images/{train,val}, labels/{train,val} and data.yaml (YOLOv5 writes its label cache there).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

BATCH, NBS = 16, 64
IMGSZ = int(os.environ.get("REPLAY_IMGSZ", 320))
EPOCHS = int(os.environ.get("REPLAY_EPOCHS", 10))  # the run's length for the LR schedule


def _yolov5_parts(data_dir: Path, weights: str) -> tuple:
    """(model, optimizer, scheduler, ema, loader, lf, hyp) as YOLOv5's train.py makes them for a fine-tune."""
    import yolov5
    from yolov5.models.yolo import Model
    from yolov5.utils.dataloaders import create_dataloader
    from yolov5.utils.general import init_seeds, intersect_dicts
    from yolov5.utils.torch_utils import ModelEMA, smart_optimizer

    hyp = yaml.safe_load((Path(yolov5.__file__).parent / "data/hyps/hyp.scratch-low.yaml").read_text())
    nc = int(yaml.safe_load((data_dir / "data.yaml").read_text())["nc"])
    init_seeds(1, deterministic=True)
    if os.environ.get("REPLAY_SCRATCH") == "1":
        model = Model(str(Path(yolov5.__file__).parent / "models/yolov5n.yaml"), ch=3, nc=nc)
    else:
        ckpt = torch.load(weights, map_location="cpu")
        model = Model(ckpt["model"].yaml, ch=3, nc=nc)
        model.load_state_dict(intersect_dicts(ckpt["model"].float().state_dict(), model.state_dict()), strict=False)
    hyp["weight_decay"] *= BATCH * max(round(NBS / BATCH), 1) / NBS
    optimizer = smart_optimizer(model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"])
    lf = lambda x: (1 - x / EPOCHS) * (1.0 - hyp["lrf"]) + hyp["lrf"]  # noqa: E731 - train.py's linear schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
    ema = ModelEMA(model)
    loader = create_dataloader(str(data_dir / "images/train"), IMGSZ, BATCH, 32, False, hyp=hyp, augment=True,
                               shuffle=True, seed=0, workers=0, prefix="train: ")[0]
    model.half().float()
    nl = model.model[-1].nl
    hyp["box"] *= 3 / nl
    hyp["cls"] *= nc / 80 * 3 / nl
    hyp["obj"] *= (IMGSZ / 640) ** 2 * 3 / nl
    hyp["label_smoothing"] = 0.0
    model.nc, model.hyp = nc, hyp
    return model, optimizer, scheduler, ema, loader, lf, hyp


def yolov5_side(data_dir: Path, out: Path, epochs: int, weights: str) -> None:
    from yolov5.utils.loss import ComputeLoss

    model, optimizer, scheduler, ema, loader, lf, hyp = _yolov5_parts(data_dir, weights)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {k: v.clone() for k, v in model.state_dict().items()}}, out / "init.pt")
    nb, compute_loss = len(loader), ComputeLoss(model)
    nw = int(os.environ.get("REPLAY_WARMUP", max(round(hyp["warmup_epochs"] * nb), 100)))
    last_opt_step, accumulate = -1, max(round(NBS / BATCH), 1)
    scheduler.last_epoch = -1
    batches, log = [], []
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        for i, (imgs, targets, _, _) in enumerate(loader):
            batches.append((imgs.clone(), targets.clone(), epoch))
            ni = i + nb * epoch
            if ni <= nw:
                accumulate = max(1, np.interp(ni, [0, nw], [1, NBS / BATCH]).round())
                for j, x in enumerate(optimizer.param_groups):
                    start = hyp["warmup_bias_lr"] if j == 0 else 0.0
                    x["lr"] = np.interp(ni, [0, nw], [start, x["initial_lr"] * lf(epoch)])
                    x["momentum"] = np.interp(ni, [0, nw], [hyp["warmup_momentum"], hyp["momentum"]])
            loss, _ = compute_loss(model(imgs.float() / 255), targets)
            loss.backward()
            if ni - last_opt_step >= accumulate:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                optimizer.step()
                optimizer.zero_grad()
                ema.update(model)
                last_opt_step = ni
            log.append((ni, loss.item(), [float(g["lr"]) for g in optimizer.param_groups], float(accumulate)))
        scheduler.step()
    torch.save({"batches": batches, "log": log}, out / "steps.pt")
    print(f"YOLOv5: {len(batches)} iterations, {ema.updates} optimizer steps")


def ours_side(data_dir: Path, out: Path, overrides: list[str]) -> None:
    from yolo_exp.build import build_trainer
    from yolo_exp.config.cli import compose_checked
    from yolo_exp.engine import trainer as trainer_module

    if "REPLAY_WARMUP" in os.environ:
        trainer_module.warmup_iters = lambda *_: int(os.environ["REPLAY_WARMUP"])

    o = torch.load(out / "steps.pt", weights_only=False)
    last_epoch = max(b[2] for b in o["batches"])
    cfg = compose_checked(["data=file", f"data.file={data_dir / 'data.yaml'}", f"weights={out / 'init.pt'}",
                           f"imgsz={IMGSZ}", f"batch_size={BATCH}", f"epochs={EPOCHS}", "hyp=scratch-low",
                           "workers=0", "noplots=true", "device=cpu", f"cache_dir={out / 'cache'}", *overrides])
    trainer = build_trainer(cfg, out / "ours_run")
    trainer.epoch_batches = lambda epoch: iter([(im, t, ("",) * len(im), (None,) * len(im))
                                                for im, t, e in o["batches"] if e == epoch])
    trainer.validate_epoch = lambda epoch, final: ({}, [0.0] * len(trainer.loss_names))
    end_epoch, log, loss_fn = trainer.end_epoch, [], trainer.compute_loss
    trainer.end_epoch = lambda epoch, *a: end_epoch(epoch, *a) or epoch == last_epoch  # stop after the last one
    trainer.finish = lambda result: None

    def logged(preds, targets, *masks):  # noqa: ANN001, ANN202
        loss, items = loss_fn(preds, targets, *masks)
        log.append((loss.item(), [g["lr"] for g in trainer.optimizer.param_groups], trainer.accumulate))
        return loss, items

    trainer.compute_loss = logged
    trainer.fit()
    print("iteration | loss ours | loss YOLOv5 | LRs equal | accumulate equal")
    for (loss, lrs, acc), (ni, y_loss, y_lrs, y_acc) in zip(log, o["log"]):
        print(f"{ni} | {loss:.6f} | {y_loss:.6f} | {np.allclose(lrs, y_lrs, rtol=1e-9)} | {acc == y_acc}")
    epochs = [b[2] for b in o["batches"]][:len(log)]
    print("epoch | mean loss ours | mean loss YOLOv5")  # drift makes single steps differ; the level should not
    for e in sorted(set(epochs)):
        ours_e = [lg[0] for lg, ep in zip(log, epochs) if ep == e]
        theirs = [lg[1] for lg, ep in zip(o["log"], epochs) if ep == e]
        print(f"{e} | {np.mean(ours_e):.5f} | {np.mean(theirs):.5f}")


if __name__ == "__main__":
    side, data, out = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve()
    if side == "yolov5":
        yolov5_side(data, out, int(sys.argv[4]) if len(sys.argv) > 4 else 2,
                    str(Path(__file__).resolve().parents[1].parent / "shared/weights/yolov5n.pt"))
    else:
        ours_side(data, out, sys.argv[4:])
