"""Turning the ``data`` config group (or a YOLOv5 data.yaml) into absolute sources and class names."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yolo_exp.limits import check_classes, load_yaml, short_repr

LOGGER = logging.getLogger(__name__)


@dataclass
class DataSpec:
    root: Path
    train: list[Path] = field(default_factory=list)
    val: list[Path] = field(default_factory=list)
    test: list[Path] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    nc: int = 0
    dataset: Callable[..., Any] | None = None  # the dataset class the loaders build (None: YoloDataset)


def data_spec(cache_dir: Path | None = None, dataset: Callable[..., Any] | None = None, **data_cfg: Any) -> DataSpec:
    """The ``data`` group's builder (its ``_target_``); ``dataset`` is the group's ``dataset`` node, instantiated
    as a partial: the class (YoloDataset or a user's subclass) that the loaders build for each split."""
    spec = resolve_data(data_cfg, cache_dir=cache_dir)
    spec.dataset = dataset
    return spec


def _names_list(names: Any) -> list[str]:
    if names is None:
        return []
    if isinstance(names, Mapping):
        keys = sorted(int(k) for k in names)
        if keys != list(range(len(keys))):
            raise ValueError(f"data.names keys must be 0..{len(keys) - 1}, got {short_repr(keys)}")
        return [str(names[k] if k in names else names[str(k)]) for k in keys]
    return [str(n) for n in names]


def _sources(key: str, value: Any, root: Path) -> list[Path]:
    """Absolute sources of a split; a missing train or val fails, a missing test split is left out (with a
    warning): training does not need it, and val.py's task=test says so itself."""
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    out = []
    for item in items:
        p = Path(item).expanduser()
        p = p if p.is_absolute() else root / p
        if not p.exists():
            if key == "test":
                LOGGER.warning("data.test: %s does not exist; no test split", p)
                return []
            raise FileNotFoundError(f"data.{key}: {p} does not exist")
        out.append(p.resolve())
    return out


def _from_file(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill keys left unset from the data.yaml in ``file``; its relative ``path`` is relative to the yaml itself."""
    f = Path(cfg["file"]).expanduser().absolute()
    if not f.exists():
        raise FileNotFoundError(f"data.file: {f} does not exist")
    try:
        loaded = load_yaml(f, f"data.file: {f}")  # a regular file, bounded in size and once aliases expand
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ValueError(f"data.file: {f} is not valid YAML{line} ({getattr(exc, 'problem', None) or exc})") from None
    if loaded is None:
        raise ValueError(f"data.file: {f} is empty (a data.yaml needs train:, val: and names:)")
    if not isinstance(loaded, Mapping):
        raise ValueError(f"data.file: {f} is not a YAML mapping (a data.yaml needs train:, val: and names:)")
    for key in ("train", "val"):
        if not loaded.get(key) and not cfg.get(key):
            raise ValueError(f"data.file: {f} has no '{key}:' entry (the {key} images: a folder, a .txt list or "
                             "a list of them)")
    merged = dict(loaded)
    p = Path(str(merged.get("path") or "."))
    merged["path"] = p if p.is_absolute() else f.parent / p
    for k, v in cfg.items():
        if v is not None and k != "file":
            merged[k] = v
    return merged


def resolve_data(data_cfg: Mapping[str, Any], cache_dir: Path | None = None) -> DataSpec:
    """Resolve paths, class names and nc; generate the embedded shapes dataset when ``shapes`` is set."""
    cfg = {k: v for k, v in dict(data_cfg).items()}
    where = f"data.file: {Path(cfg['file']).expanduser().absolute()}" if cfg.get("file") else "data"
    if cfg.get("file"):
        cfg = _from_file(cfg)
    # The demo is generated only for a data option that names no images of its own: `data=coco128 debug=fast` sets
    # data.shapes.* (the sizes of the demo) but trains on coco128.
    shapes = cfg.get("shapes") if not cfg.get("train") else None
    if shapes:
        from yolo_exp.data.shapes import generate_shapes, shapes_data_root

        params = {k: shapes[k] for k in ("n_train", "n_val", "img_size", "seed", "segments") if k in shapes}
        root = Path(cfg["path"]).expanduser() if cfg.get("path") else shapes_data_root(cache_dir, **params)
        try:
            root = generate_shapes(root.absolute(), **params)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write the demo dataset to {root.absolute()} ({exc.strerror}); set "
                          "cache_dir=DIR (or YOLO_EXP_CACHE_DIR) to a writable folder") from None
        generated = yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8"))
        for k in ("train", "val", "names"):
            if not cfg.get(k):
                cfg[k] = generated[k]
    else:
        root = Path(str(cfg.get("path") or ".")).expanduser()
    root = root.absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: {root} does not exist")
    names = _names_list(cfg.get("names"))
    nc = cfg.get("nc")
    if nc is None:
        nc = len(names)
    elif names and int(nc) != len(names):
        raise ValueError(f"data.nc={nc} does not match the {len(names)} entries of data.names")
    nc = int(nc)
    if nc < 1:
        raise ValueError("data: no classes (set names: [...] or nc:)")
    check_classes(nc, where)
    if not names:
        names = [f"class{i}" for i in range(nc)]
    return DataSpec(
        root=root.resolve(),
        train=_sources("train", cfg.get("train"), root),
        val=_sources("val", cfg.get("val"), root),
        test=_sources("test", cfg.get("test"), root),
        names=names,
        nc=nc,
    )
