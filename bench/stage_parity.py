"""Two from-scratch stages against YOLOv5 (docs/quality.md, issue 30): the fresh model's weights, and how hard the
training batches are (the same fixed checkpoints' loss on each side's augmented batches).

Step 1, in the oracle venv (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1):
    python bench/stage_parity.py yolov5 DATA_DIR OUT [IMGSZ EPOCHS]
saves YOLOv5's yolov5n built for DATA_DIR's classes after torch.manual_seed(0) (as built, and after train.py's
half().float()) and EPOCHS (8) passes of its training batches at IMGSZ (160). Step 2, in our environment:
    python bench/stage_parity.py ours DATA_DIR OUT [IMGSZ EPOCHS]
compares our model built the same way tensor by tensor, saves our Trainer's batches and prints both sides' batch
statistics. Step 3, in the oracle venv:
    python bench/stage_parity.py score OUT CKPT [CKPT ...]
prints each checkpoint's mean box / obj loss (YOLOv5's ComputeLoss, eval-mode outputs) on both sides' batches.
DATA_DIR holds images/{train,val}, labels/{train,val} and data.yaml (YOLOv5 writes its label cache there).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

BATCH = 16


def _hyp() -> dict:
    import yolov5

    return yaml.safe_load((Path(yolov5.__file__).parent / "data/hyps/hyp.scratch-low.yaml").read_text())


def yolov5_side(data_dir: Path, out: Path, imgsz: int, epochs: int) -> None:
    """YOLOv5's fresh model (seed 0) and its augmented training batches."""
    import yolov5
    from yolov5.models.yolo import Model
    from yolov5.utils.dataloaders import create_dataloader
    from yolov5.utils.general import init_seeds

    out.mkdir(parents=True, exist_ok=True)
    nc = int(yaml.safe_load((data_dir / "data.yaml").read_text())["nc"])
    torch.manual_seed(0)
    model = Model(str(Path(yolov5.__file__).parent / "models/yolov5n.yaml"), ch=3, nc=nc)
    built = {k: v.clone() for k, v in model.state_dict().items()}
    model.half().float()  # train.py, after AutoAnchor
    torch.save({"built": built, "train": model.state_dict()}, out / "yolov5_init.pt")
    init_seeds(1, deterministic=True)
    loader = create_dataloader(str(data_dir / "images/train"), imgsz, BATCH, 32, False, hyp=_hyp(), augment=True,
                               shuffle=True, seed=0, workers=0, prefix="train: ")[0]
    batches = [(imgs.clone(), targets.clone()) for _ in range(epochs) for imgs, targets, _, _ in loader]
    torch.save(batches, out / "yolov5_batches.pt")


def compare_init(ours: dict, theirs: dict) -> None:
    """Print which tensors of the two fresh models differ, and by how much."""
    names = set(theirs["built"])
    print(f"names only in ours: {sorted(set(ours) - names)}, only in YOLOv5's: {sorted(names - set(ours))}")
    for tag in ("built", "train"):
        ref = theirs[tag]
        diff = {k: (ours[k].double() - ref[k].double()).abs().max().item() for k in ref
                if k in ours and not torch.equal(ours[k], ref[k])}
        kinds = sorted({k.rsplit(".", 1)[-1] for k in diff})
        print(f"YOLOv5 {tag}: {len(ref) - len(diff)} of {len(ref)} tensors bit-identical; differing kinds {kinds}, "
              f"largest difference {max(diff.values(), default=0.0):.3g}")


def batch_stats(name: str, batches: list) -> None:
    """Targets per image, box size quantiles (px), channel means, sharpness and padding of one side's batches."""
    imgs = torch.cat([b[0] for b in batches]).float()
    t = torch.cat([b[1] for b in batches])
    wh = t[:, 4:6].numpy() * imgs.shape[-1]
    lap = (4 * imgs[..., 1:-1, 1:-1] - imgs[..., :-2, 1:-1] - imgs[..., 2:, 1:-1] - imgs[..., 1:-1, :-2]
           - imgs[..., 1:-1, 2:]).abs().mean().item()
    pad = (imgs == 114).all(1).float().mean().item()
    print(f"{name}: {len(imgs)} images, {len(t) / len(imgs):.3f} targets/img, w q10/50/90 "
          f"{np.percentile(wh[:, 0], [10, 50, 90]).round(1)}, h {np.percentile(wh[:, 1], [10, 50, 90]).round(1)} px, "
          f"channel means {imgs.mean((0, 2, 3)).numpy().round(1)}, |laplacian| {lap:.3f}, pad {pad:.4f}")


def ours_side(data_dir: Path, out: Path, imgsz: int, epochs: int) -> None:
    """Our fresh model (seed 0) against YOLOv5's, and our Trainer's batches of the same length."""
    from yolo_exp.build import build_trainer
    from yolo_exp.config.cli import compose_checked
    from yolo_exp.models.yolo import build_model

    nc = int(yaml.safe_load((data_dir / "data.yaml").read_text())["nc"])
    torch.manual_seed(0)
    compare_init(build_model("yolov5n", nc=nc).state_dict(), torch.load(out / "yolov5_init.pt", weights_only=True))
    cfg = compose_checked(["data=file", f"data.file={data_dir / 'data.yaml'}", "weights=null", f"imgsz={imgsz}",
                           f"batch_size={BATCH}", f"epochs={epochs}", "hyp=scratch-low", "workers=0", "noplots=true",
                           "device=cpu", f"cache_dir={out / 'cache'}"])
    trainer = build_trainer(cfg, out / "ours_run")
    batches = [(imgs.clone(), targets.clone()) for e in range(epochs) for imgs, targets, *_ in trainer.epoch_batches(e)]
    torch.save(batches, out / "ours_batches.pt")
    for side in ("yolov5", "ours"):
        batch_stats(side, torch.load(out / f"{side}_batches.pt", weights_only=True))


def score(out: Path, ckpts: list[str]) -> None:
    """Each fixed checkpoint's mean training loss items on both sides' batches (YOLOv5's ComputeLoss)."""
    from yolov5.utils.loss import ComputeLoss

    sides = {s: torch.load(out / f"{s}_batches.pt", weights_only=True) for s in ("yolov5", "ours")}
    for ckpt in ckpts:
        model = torch.load(ckpt, map_location="cpu", weights_only=False)["model"].float().eval()
        nl, nc, imgsz = model.model[-1].nl, model.model[-1].nc, sides["ours"][0][0].shape[-1]
        hyp = _hyp()
        hyp.update(box=hyp["box"] * 3 / nl, cls=hyp["cls"] * nc / 80 * 3 / nl,
                   obj=hyp["obj"] * (imgsz / 640) ** 2 * 3 / nl, label_smoothing=0.0)  # train.py's scaling
        model.hyp = hyp
        loss_fn = ComputeLoss(model)
        for side, batches in sides.items():
            with torch.no_grad():
                items = np.array([loss_fn(model(im.float() / 255)[1], t)[1].numpy() for im, t in batches])
            se = items.std(0) / np.sqrt(len(items))
            print(f"{ckpt} on {side}'s batches: box {items[:, 0].mean():.5f} ± {se[0]:.5f}, "
                  f"obj {items[:, 1].mean():.5f} ± {se[1]:.5f}")


if __name__ == "__main__":
    step = sys.argv[1]
    if step == "score":
        score(Path(sys.argv[2]).resolve(), sys.argv[3:])
    else:
        data, dst = Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve()
        size, n = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (160, 8)
        (yolov5_side if step == "yolov5" else ours_side)(data, dst, size, n)
