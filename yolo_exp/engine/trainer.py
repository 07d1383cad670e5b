"""The training loop: YOLOv5's recipe (warmup, accumulation, EMA, AMP, per-epoch validation, best/last).

A Trainer receives the built parts of a run (engine/parts.py, made by yolo_exp.build.build_training) and a
settings record (TrainSettings); ``yolo_exp.build.build_trainer`` does both from a composed config. ``fit()``
reads like the recipe: for each epoch train, validate, record, save. It writes only into the run folder (and the
dataset cache).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from yolo_exp.data.epochs import begin_epoch
from yolo_exp.engine.callbacks import CallbackList, EpochEnd
from yolo_exp.parallel import dist
from yolo_exp.engine.checkpoint import (atomic_save, load_ema_weights, model_record, save_epoch, strip_weights,
                                       training_state)
from yolo_exp.engine.interrupts import StopRequests
from yolo_exp.engine.loss_guard import LossGuard
from yolo_exp.engine.optim import apply_warmup, build_scheduler, clipped_step, warmup_iters
from yolo_exp.engine.parts import Training
from yolo_exp.engine.settings import TrainResult, TrainSettings
from yolo_exp.engine.start_point import StartPoint, restore
from yolo_exp.engine.validate import validate
from yolo_exp.metrics.fitness import fitness as compute_fitness
from yolo_exp.ops.images import rescale_images
from yolo_exp.report import results as results_csv
from yolo_exp.report.run_folder import RunFolder

LOG = logging.getLogger("yolo_exp.train")


class Trainer:
    def __init__(self, parts: Training, settings: TrainSettings, folder: RunFolder,
                 callbacks: CallbackList | None = None) -> None:
        self.s, self.folder, self.run_dir, self.wdir = settings, folder, folder.path, folder.path / "weights"
        if dist.is_main():
            self.wdir.mkdir(parents=True, exist_ok=True)
        self.callbacks = callbacks or CallbackList()
        self.guard = LossGuard(parts.accel.device, LOG)  # non-finite and diverging losses
        self.stop, self.partial_saved = StopRequests(LOG), False  # Ctrl-C or a cluster's warning: stop at a safe point
        self.accel, self.device = parts.accel, parts.accel.device
        self.nc, self.names = parts.data.nc, parts.data.names
        self.model, self.step_model, self.compute_loss = parts.model, parts.step_model, parts.loss
        self.loss_names = results_csv.loss_names(4 if parts.model.task == "segment" else 3)
        self.imgsz, self.gs, self.hyp = parts.imgsz, int(parts.model.stride.max()), parts.hyp
        self.train_loader, self.train_set, self.val_loader = parts.train_loader, parts.train_set, parts.val_loader
        opt, self.resume_ckpt = parts.opt, parts.resume_ckpt
        self.optimizer, self.accumulate, self.lf, self.ema, self.scaler = (
            opt.optimizer, opt.accumulate, opt.lf, opt.ema, opt.scaler)
        self._start_state()

    def _start_state(self) -> None:
        """Epoch 0 and no best yet, or where last.pt left off; the LR schedule positioned there."""
        cfg, ckpt = self.s, self.resume_ckpt
        self.maps = np.zeros(self.nc)  # per-class mAP of the last validation (image weights)
        start = restore(ckpt, cfg.epochs, (self.model, self.ema, self.optimizer, self.scaler),
                        self.wdir / "last.pt", LOG) if ckpt else StartPoint()
        self.start_epoch, self.finishing, self.partial = start.epoch, start.finishing, start.partial
        self.best_fitness, self.best_epoch, self.best_metrics = start.best_fitness, start.best_epoch, start.best_metrics
        self.end_status = start.end_status
        if ckpt:
            if dist.is_main():
                self.folder.truncate_after(ckpt["epoch"])
            LOG.info("resuming %s: training is done (%d of %d epochs); finishing the run" if self.finishing else
                     "resuming %s after epoch %d of %d", self.run_dir, self.start_epoch, cfg.epochs)
        self.scheduler = build_scheduler(self.optimizer, self.lf, self.start_epoch)  # follows a new epoch count
        if self.partial and ckpt["config"]["epochs"] == cfg.epochs:
            # inside an epoch the LR is the one it ran at (in the epoch where warmup ends, lf(epoch), not lf(epoch-1))
            for group, saved in zip(self.optimizer.param_groups, ckpt["optimizer"]["param_groups"]):
                group["lr"] = saved["lr"]

    def fit(self) -> TrainResult:
        cfg = self.s
        nb = len(self.train_loader)
        self.nw = warmup_iters(self.hyp["warmup_epochs"], nb)
        self.last_opt_step = self.resume_ckpt.get("last_opt_step", -1) if self.resume_ckpt else -1
        LOG.info("Image sizes %d train, %d val; %d dataloader workers", self.imgsz, self.imgsz,
                 self.train_loader.num_workers)  # capped at the CPU count and batch size, as YOLOv5
        LOG.info("Logging results to %s", self.run_dir)
        LOG.info("Starting training for %d epochs...", cfg.epochs)
        t0 = time.time()
        result = TrainResult(self.best_fitness, self.best_epoch, best=self.best_metrics, epochs_done=self.start_epoch)
        epoch = self.start_epoch - 1
        restore_sigint = self.stop.catch()
        try:
            batches = None
            for epoch in range(self.start_epoch, cfg.epochs if not self.finishing else self.start_epoch):
                t_epoch = time.time()
                train_items, lrs = self.train_epoch(epoch, nb, batches)
                if dist.is_main():  # the bar is off without a terminal and never reaches train.log
                    losses = ", ".join(f"{k}_loss {v:.4g}" for k, v in zip(self.loss_names, train_items.tolist()))
                    LOG.info("Epoch %d/%d: %s (%.1f s)", epoch + 1, cfg.epochs, losses, time.time() - t_epoch)
                    self.guard.epoch_loss(float(train_items.sum()), self.hyp["lr0"])
                final_epoch = epoch + 1 == cfg.epochs
                # image weights are redrawn from this epoch's validation, so only then can the next epoch start
                batches = None if final_epoch or cfg.image_weights else self.epoch_batches(epoch + 1)
                metrics, val_items = self.validate_or_keep(epoch, nb, train_items, final_epoch)
                self.scheduler.step()
                stop = dist.is_main() and self.end_epoch(epoch, train_items, val_items, metrics, lrs, final_epoch)
                result.epochs_done = epoch + 1
                if self.stop.requested:  # Ctrl-C while the epoch was recorded: it is saved, stop here
                    raise KeyboardInterrupt
                stop, self.maps = dist.from_main((stop, self.maps))  # every rank stops together
                if stop:
                    break
            hours = (time.time() - t0) / 3600
            LOG.info("%d epochs completed in %.3f hours.", result.epochs_done - self.start_epoch, hours)
            dist.check_in_sync(self.model, LOG)
            self.stop.at_once = True
            if dist.is_main():
                self.finish(result)
            if self.end_status is not None:
                result.status, result.stopped = self.end_status
        except KeyboardInterrupt:
            result.status = "interrupted"
            self.stop.tell_interrupted(self.run_dir, "the state at the interruption" if self.partial_saved else
                                       "all epochs (the run's end is left: final validation and plots)"
                                       if self.finishing or result.epochs_done == cfg.epochs else
                                       "the last completed epoch")
            raise
        finally:
            restore_sigint()
        return result

    def validate_or_keep(self, epoch: int, nb: int, train_items: torch.Tensor, final_epoch: bool):
        """Validate the epoch; Ctrl-C stops the validation at once and keeps the trained epoch in last.pt (as a
        complete partial epoch: the resume validates it), so minutes of validation never cost hours of training."""
        try:
            if self.stop.requested:  # Ctrl-C between the last step and validation
                raise KeyboardInterrupt
            self.stop.at_once = True
            return self.validate_epoch(epoch, final_epoch)
        except KeyboardInterrupt:
            self.stop.at_once = False
            self.save_partial(epoch, nb, train_items)
            raise
        finally:
            self.stop.at_once = False

    def save_partial(self, epoch: int, batches_done: int, mloss: torch.Tensor) -> None:
        ckpt = self.checkpoint(epoch - 1)
        ckpt["partial"] = {"epoch": epoch, "batches": batches_done, "mloss": mloss.tolist()}
        atomic_save(ckpt, self.wdir / "last.pt")
        self.partial_saved = True

    def epoch_batches(self, epoch: int) -> Iterator:
        """Start the loader on ``epoch`` (order, image weights, mosaic, resume skip are fixed here).

        ``fit`` calls it for the next epoch before validating the current one, so the workers refill their queues
        while the main process validates instead of stalling the next epoch's first iterations (YOLOv5's infinite
        loader gets the same overlap). Augmentation is a function of (seed, epoch, index): timing changes nothing.
        """
        cfg = self.s
        skip = self.partial["batches"] if self.partial and self.partial["epoch"] == epoch else 0  # a mid-epoch resume
        mosaic = self.train_set.augment and not cfg.rect and epoch < cfg.epochs - cfg.close_mosaic
        return begin_epoch(self.train_loader, self.train_set, epoch, cfg.seed, mosaic, self.nc,
                           maps=self.maps if cfg.image_weights else None, skip_batches=skip)

    def train_epoch(self, epoch: int, nb: int, batches: Iterator | None = None) -> tuple[torch.Tensor, list[float]]:
        cfg, model, device = self.s, self.step_model, self.device
        model.train()
        batches = batches if batches is not None else self.epoch_batches(epoch)
        if cfg.close_mosaic and epoch == max(cfg.epochs - cfg.close_mosaic, 0) and self.train_set.augment \
                and not cfg.rect:
            LOG.info("closing mosaic for the last %d epochs", cfg.close_mosaic)
        mloss = torch.zeros(len(self.loss_names), device=device)
        start = 0
        if self.partial and self.partial["epoch"] == epoch:  # resuming in the middle of this epoch
            start = self.partial["batches"]
            mloss = torch.tensor(self.partial["mloss"], dtype=mloss.dtype, device=device)
            self.partial = None
        self.optimizer.zero_grad()
        pbar = tqdm(batches, total=nb, initial=start, bar_format="{l_bar}{bar:10}{r_bar}",
                    disable=None if dist.is_main() else True)
        try:
            for i, (imgs, targets, paths, _, *masks) in enumerate(pbar, start):  # masks: segmentation
                ni = i + nb * epoch
                imgs = self.accel.images(imgs)
                if ni <= self.nw:
                    self.accumulate = apply_warmup(self.optimizer, ni, self.nw, epoch, self.lf, self.hyp,
                                                   cfg.batch_size, nbs=cfg.nbs)
                if cfg.multi_scale:
                    imgs = self.rescale_batch(imgs)
                with self.accel.autocast():
                    preds = model(imgs)
                loss, items = self.compute_loss(preds, targets.to(device), *(m.to(device) for m in masks))
                loss = loss * dist.world_size()  # DDP averages gradients over ranks; YOLOv5 sums them
                finite = torch.isfinite(loss.detach()).all()  # stays on the device: read at display intervals
                self.guard.step(finite)
                self.scaler.scale(loss).backward()  # a non-finite loss leaves non-finite gradients: step skipped
                if ni - self.last_opt_step >= self.accumulate:
                    self.optimizer_step()
                    self.last_opt_step = ni
                mloss = torch.where(finite, (mloss * i + items.detach()) / (i + 1), mloss)
                if self.stop.requested and self.last_opt_step == ni:  # Ctrl-C: stop on an optimizer-step boundary
                    self.save_partial(epoch, i + 1, mloss)
                    raise KeyboardInterrupt
                if i % 10 == 0 or i == nb - 1:  # host sync only at display intervals
                    self.guard.check(epoch, i)
                    self.show(pbar, epoch, mloss, targets.shape[0], imgs.shape[-1])
                if ni < 3 and dist.is_main():  # also when a resume repeats them
                    self.folder.train_batch(ni, imgs, targets, paths, self.names, *masks,
                                            overlap=getattr(self.train_set, "overlap", True))
        finally:
            pbar.close()
        if self.stop.requested:  # Ctrl-C after the epoch's last step: its state is complete, save it there
            self.save_partial(epoch, nb, mloss)
            raise KeyboardInterrupt
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        return mloss.cpu(), lrs

    def show(self, pbar: tqdm, epoch: int, mloss: torch.Tensor, instances: int, size: int) -> None:
        losses = " ".join(f"{k} {v:.4f}" for k, v in zip(self.loss_names, mloss.tolist()))
        mem = f"{torch.cuda.memory_reserved() / 1e9:.3g}G" if self.accel.cuda else "0G"
        pbar.set_description(f"{epoch + 1}/{self.s.epochs} {mem} {losses} inst {instances} size {size}")

    def optimizer_step(self) -> None:
        if not clipped_step(self.optimizer, self.scaler, self.model, self.ema):
            LOG.warning("non-finite gradients: optimizer step skipped")

    def rescale_batch(self, imgs: torch.Tensor) -> torch.Tensor:
        size = random.randrange(int(self.imgsz * 0.5), int(self.imgsz * 1.5) + self.gs) // self.gs * self.gs
        return rescale_images(imgs, size, self.gs)

    def validate_epoch(self, epoch: int, final_epoch: bool) -> tuple[dict[str, float], list[float]]:
        cfg = self.s
        if cfg.noval and not final_epoch or self.val_loader is None:
            return {}, [0.0] * len(self.loss_names)
        res = validate(self.ema.ema, self.val_loader, self.names, self.device, cfg.val, loss_fn=self.compute_loss,
                       log=LOG)
        self.maps = np.asarray(res.maps, dtype=float)
        return res.metrics, [float(x) for x in res.losses or [0.0] * len(self.loss_names)]

    def end_epoch(self, epoch: int, train_items: torch.Tensor, val_items: list[float], metrics: dict[str, float],
                  lrs: list[float], final_epoch: bool) -> bool:
        cfg = self.s
        fi = compute_fitness(metrics, cfg.fitness) if metrics else -1.0
        improved = bool(metrics) and fi >= self.best_fitness  # a tie moves best.pt to the later epoch, as YOLOv5
        if improved:
            self.best_fitness, self.best_epoch, self.best_metrics = fi, epoch, {**metrics, "fitness": fi}
        row = results_csv.epoch_row(epoch, train_items.tolist(), metrics, val_items, lrs)
        event = EpochEnd(epoch, cfg.epochs, row,
                         {**metrics, "fitness": fi} if metrics else {}, self.best_epoch, dict(self.best_metrics))
        self.callbacks.on_epoch_end(event)  # may add columns or ask to stop; recorded below with the epoch
        self.folder.epoch(epoch, event.row, metrics, fi, self.best_epoch, self.best_metrics)
        patience_out = cfg.patience > 0 and epoch - max(self.best_epoch, 0) >= cfg.patience
        if event.stop and not final_epoch:
            self.end_status = (event.status, event.stop)
            LOG.info("Stopping after epoch %d: %s", epoch + 1, event.stop)
        self.save(epoch, improved, final_epoch or patience_out or bool(event.stop))  # last.pt commits the epoch
        if patience_out:
            LOG.info("Stopping training early as no improvement observed in the last %d epochs. Best results "
                     "observed at epoch %d; set patience=0 to disable early stopping.", cfg.patience,
                     self.best_epoch + 1)
        return patience_out or bool(event.stop)

    def checkpoint(self, epoch: int) -> dict:
        return {"epoch": epoch, "best_fitness": float(self.best_fitness), "best_epoch": int(self.best_epoch),
                "best_metrics": dict(self.best_metrics),
                "last_opt_step": int(self.last_opt_step),  # gradient accumulation spans epochs
                **training_state(self.model, self.ema, self.optimizer, self.scaler),
                "config": {"epochs": self.s.epochs, **self.s.config},  # a resume reads the epochs it was run for
                **model_record(self.model)}

    def save(self, epoch: int, improved: bool, final: bool) -> None:
        cfg = self.s
        if cfg.nosave and not final:
            return
        ckpt = self.checkpoint(epoch)
        ckpt["final"] = final  # the run's last epoch (or its early stop): a resume only finishes it
        if self.end_status is not None:  # stopped by a callback (a pruned trial): a resume keeps the status
            ckpt["stopped"] = {"status": self.end_status[0], "reason": self.end_status[1], "epoch": epoch}
        save_epoch(ckpt, self.wdir, epoch, improved, cfg.save_period)

    def finish(self, result: TrainResult) -> None:
        """Strip the checkpoints to FP16 EMA weights, then validate best.pt as it is on disk (YOLOv5 validates the
        stripped file too), with plots. Every step may run again: a run stopped here is finished by a resume."""
        cfg = self.s
        result.best_fitness, result.best_epoch, result.best = self.best_fitness, self.best_epoch, self.best_metrics
        strip_weights(self.wdir, cfg.keep_optimizer, LOG)
        best = self.wdir / "best.pt"
        if best.exists() and not cfg.noval:
            LOG.info("Validating %s...", best)
            load_ema_weights(self.ema.ema, best)
            res = validate(self.ema.ema, self.val_loader, self.names, self.device, cfg.final_val,
                           loss_fn=self.compute_loss, save_dir=self.run_dir, log=LOG)
            result.final = dict(res.metrics)
            result.final["fitness"] = compute_fitness(result.final, cfg.fitness)
        self.folder.results_plot()
        LOG.info("Best epoch %d, fitness %.4f. Results saved to %s", self.best_epoch + 1, self.best_fitness,
                 self.run_dir)
