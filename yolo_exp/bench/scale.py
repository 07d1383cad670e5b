"""`bench scale`: how start-up costs grow with the dataset, ours beside YOLOv5's, each figure in a fresh process.

A synthetic dataset is generated once per size (small JPEGs of 64-160 px, 1-4 boxes each; the smaller train sets
are hard links to the first images of the largest, a validation set of its own), then for each size and each side
(ours, and YOLOv5's when its interpreter is given; the two interleaved so that load on a shared machine affects
both alike): the first scan, the cache hit with the first batch and the workers' memory, and for ours the train
command's whole start-up to its first batch. YOLOv5 writes ``labels.cache`` next to the labels: generate into a
folder of your own (the default is a temporary one, removed afterwards), never into shared data.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NC = 4
SIDE = (64, 160)
VERSION = 1


def write_split(folder: Path, n: int, seed: int) -> None:
    """``folder/images/NNNNNN.jpg`` and ``folder/labels/NNNNNN.txt``: a plain image with 1-4 filled boxes."""
    import cv2

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = (int(v) for v in rng.integers(SIDE[0], SIDE[1] + 1, 2))
        img = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
        rows = []
        for _ in range(int(rng.integers(1, 5))):
            bw, bh = rng.uniform(0.1, 0.5, 2)
            cx, cy = rng.uniform(bw / 2, 1 - bw / 2), rng.uniform(bh / 2, 1 - bh / 2)
            x1, y1, x2, y2 = int((cx - bw / 2) * w), int((cy - bh / 2) * h), int((cx + bw / 2) * w), int((cy + bh / 2) * h)
            cv2.rectangle(img, (x1, y1), (x2, y2), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
            rows.append(f"{int(rng.integers(0, NC))} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tofile(str(folder / "images" / f"{i:06d}.jpg"))
        (folder / "labels" / f"{i:06d}.txt").write_text("".join(rows))


def link_split(src: Path, dst: Path, n: int) -> None:
    """The first ``n`` images and labels of ``src`` as hard links (same bytes, sizes and mtimes; no disk)."""
    for sub, ext in (("images", "jpg"), ("labels", "txt")):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            os.link(src / sub / f"{i:06d}.{ext}", dst / sub / f"{i:06d}.{ext}")


def make_dataset(root: Path, counts: Sequence[int], val_images: int) -> dict[int, Path]:
    """Generate (unless its marker says it is there) and return each train size's data.yaml."""
    params = {"version": VERSION, "counts": sorted(counts), "val": val_images}
    marker = root / ".scale.json"
    if not (marker.is_file() and json.loads(marker.read_text()) == params):
        for old in root.glob("train-*"):
            shutil.rmtree(old)
        shutil.rmtree(root / f"val-{val_images}", ignore_errors=True)
        top = max(counts)
        write_split(root / f"train-{top}", top, seed=0)
        for n in counts:
            if n != top:
                link_split(root / f"train-{top}", root / f"train-{n}", n)
        write_split(root / f"val-{val_images}", val_images, seed=1)
        marker.write_text(json.dumps(params))
    yamls = {}
    for n in counts:
        yamls[n] = root / f"data-{n}.yaml"
        yamls[n].write_text(json.dumps({"path": str(root), "train": f"train-{n}/images",
                                        "val": f"val-{val_images}/images", "nc": NC,
                                        "names": [f"c{i}" for i in range(NC)]}))
    return yamls


def child(cmd: list[str], mode: str, params: dict[str, Any], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one measurement process; its last stdout line is the figures."""
    res = subprocess.run([*cmd, mode, json.dumps(params)], env=env, cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd[:3])} {mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def sides(yolov5: str | None) -> dict[str, list[str]]:
    here = Path(__file__).resolve().parent
    out = {"ours": [sys.executable, "-m", "yolo_exp.bench.scale_child"]}
    if yolov5:
        out["yolov5"] = [yolov5, str(here / "yolov5_scale.py")]
    return out


def child_env() -> dict[str, str]:
    repo = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
            "PYTHONPATH": f"{repo}{os.pathsep}{path}" if path else repo}


def measure(root: Path, split: str, source: Path, images: int, imgsz: int, workers: int, yolov5: str | None,
            data_yaml: Path | None = None, overrides: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of one split and size: per side, scan then start (interleaved ours, YOLOv5), then ours' whole run."""
    env, rows = child_env(), {}
    params = {"source": str(source), "split": split, "imgsz": imgsz, "nc": NC, "workers": workers}
    for name, cmd in sides(yolov5).items():
        rows[name] = {"side": name, "split": split, "images": images}
    for mode in ("scan", "start"):
        for name, cmd in sides(yolov5).items():
            cache = root / f"cache-{name}-{split}-{images}"
            if mode == "scan":
                shutil.rmtree(cache, ignore_errors=True)
            got = child(cmd, mode, {**params, "cache_dir": str(cache)}, env, root)
            got.pop("mode")
            if mode == "scan":  # the scan's own peak; the main process's growth is the start's
                got["scan_peak_rss_mb"] = got.pop("main_peak_rss_mb")
                got.pop("main_growth_mb")
            rows[name].update(got)
    if data_yaml is not None:
        got = child(sides(None)["ours"], "run",
                    {**params, "data_yaml": str(data_yaml), "overrides": list(overrides), "cache_dir": str(root / f"cache-ours-{split}-{images}")},
                    env, root)
        rows["ours"]["run_first_batch_s"] = got["to_first_batch_s"]
    return list(rows.values())


def ratios(rows: list[dict[str, Any]], small: int, large: int) -> list[dict[str, Any]]:
    """One row per side and split: each figure at ``large`` over the one at ``small``."""
    out = []
    for r in rows:
        if r["images"] != large:
            continue
        base = next((b for b in rows if b["images"] == small and b["side"] == r["side"] and b["split"] == r["split"]),
                    None)
        if base is not None:
            out.append({"side": r["side"], "split": r["split"], "images": f"{large}/{small}",
                        **{k: v / base[k] for k, v in r.items() if isinstance(v, float) and base.get(k)}})
    return out


def bench_scale(counts: Sequence[int], root: Path | None = None, val_images: int = 5000, imgsz: int = 160,
                workers: int = 2, yolov5: str | None = None, overrides: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every figure per train size (and once for the val set), then the ratios of the largest to the smallest."""
    tmp = None if root else tempfile.mkdtemp(prefix="yolo_exp-scale-")
    root = Path(root or tmp).absolute()
    try:
        yamls = make_dataset(root, counts, val_images)
        rows = []
        for n in sorted(counts):
            rows += measure(root, "train", root / f"train-{n}" / "images", n, imgsz, workers, yolov5, yamls[n],
                            overrides)
        rows += measure(root, "val", root / f"val-{val_images}" / "images", val_images, imgsz, workers, yolov5)
        return rows + ratios(rows, min(counts), max(counts))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
