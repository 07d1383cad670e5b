"""Writes the embedded `shapes` / `shapes-seg` dataset as a plain YOLO dataset (images, labels, data.yaml) at OUT_DIR,
so that YOLOv5's own train.py and segment/train.py read the very images ours trains on (bench/parity.sh, issue 30).

    python bench/make_shapes.py OUT_DIR [--seg] [--n-train 512] [--n-val 128] [--img-size 256] [--seed 0]

The defaults are conf/data/shapes(-seg).yaml's; the same parameters give the same files (yolo_exp.data.shapes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from yolo_exp.data.shapes import generate_shapes


def main(argv: list[str] | None = None) -> None:
    """Command line: OUT_DIR and the generator's parameters."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seg", action="store_true", help="polygon labels (the segmentation twin)")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--n-val", type=int, default=128)
    ap.add_argument("--img-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    root = generate_shapes(a.out, a.n_train, a.n_val, a.img_size, a.seed, segments=a.seg)
    print(root / "data.yaml")


if __name__ == "__main__":
    main()
