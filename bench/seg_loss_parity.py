"""YOLOv5-seg's loss as the oracle for ours, on the same predictions (both mask layouts).

Step 1, in a venv with the `yolov5` package (the oracle, outside the repo; TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1):
    python bench/seg_loss_parity.py yolov5 /tmp/segx
writes /tmp/segx/case.pt: a random yolov5n-seg's training outputs on a random batch, targets, masks, anchors and
YOLOv5's loss and items, plus hyp.yaml. Step 2, in our environment:
    python bench/seg_loss_parity.py ours /tmp/segx
prints both losses side by side (docs/quality.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml

BS, SIZE, NC = 4, 128, 4


def _targets_and_masks(overlap: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Three boxes per image; each mask is its box filled at 1/4 (an index mask per image with ``overlap``)."""
    g = torch.Generator().manual_seed(1)
    rows = []
    for b in range(BS):
        for k in range(3):
            wh = torch.rand(2, generator=g) * 0.4 + 0.1
            xy = torch.rand(2, generator=g) * (1 - wh) + wh / 2
            rows.append([b, k % NC, *xy.tolist(), *wh.tolist()])
    mh = SIZE // 4
    masks = torch.zeros((BS if overlap else len(rows), mh, mh))
    for i, (b, _, x, y, w, h) in enumerate(rows):
        x1, y1, x2, y2 = (int(v * mh) for v in (x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        if overlap:
            masks[int(b), y1:y2, x1:x2] = i - 3 * int(b) + 1
        else:
            masks[i, y1:y2, x1:x2] = 1
    return torch.tensor(rows), masks


def yolov5_side(out: Path) -> None:
    import yolov5
    from yolov5.models.yolo import SegmentationModel
    from yolov5.utils.segment.loss import ComputeLoss

    root = Path(yolov5.__file__).parent
    hyp = yaml.safe_load((root / "data" / "hyps" / "hyp.scratch-low.yaml").read_text())
    torch.manual_seed(0)
    cases = {}
    for overlap in (True, False):
        model = SegmentationModel(str(root / "models" / "segment" / "yolov5n-seg.yaml"), ch=3, nc=NC)
        model.hyp = hyp
        p, proto = model.train()(torch.rand(BS, 3, SIZE, SIZE))
        targets, masks = _targets_and_masks(overlap)
        loss, items = ComputeLoss(model, overlap=overlap)((p, proto), targets, masks)
        cases["overlap" if overlap else "separate"] = {
            "p": [t.detach() for t in p], "proto": proto.detach(), "targets": targets, "masks": masks,
            "anchors": model.model[-1].anchors.detach().clone(), "loss": loss.detach(), "items": items.detach()}
    out.mkdir(parents=True, exist_ok=True)
    torch.save(cases, out / "case.pt")
    (out / "hyp.yaml").write_text(yaml.safe_dump(hyp))


def our_side(folder: Path) -> None:
    from yolo_exp.loss.segment import SegmentationLoss

    cases = torch.load(folder / "case.pt", weights_only=True)
    hyp = yaml.safe_load((folder / "hyp.yaml").read_text())
    for name, c in cases.items():
        loss, items = SegmentationLoss(c["anchors"], NC, hyp, overlap=name == "overlap")(
            (c["p"], c["proto"]), c["targets"], c["masks"])
        print(f"{name:9s} ours   {loss.item():.7g} {[round(v, 7) for v in items.tolist()]}")
        print(f"{name:9s} YOLOv5 {c['loss'].item():.7g} {[round(v, 7) for v in c['items'].tolist()]}")


if __name__ == "__main__":
    (yolov5_side if sys.argv[1] == "yolov5" else our_side)(Path(sys.argv[2]))
