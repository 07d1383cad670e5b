"""Turning the ``data`` config group (or a YOLOv5 data.yaml) into absolute sources and class names."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yolo_exp.files.limits import check_classes, load_yaml, short_repr

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


SCALAR = (str, int, float)


def _names_list(names: Any, where: str = "data") -> list[str]:
    """``names`` as YOLOv5 writes it: a list, or a mapping {0: name, 1: ...}; each name a plain value."""
    if names is None:
        return []
    if isinstance(names, Mapping):
        try:
            by_index = {int(k): v for k, v in names.items() if not isinstance(k, bool)}
        except (TypeError, ValueError):
            by_index = {}
        if sorted(by_index) != list(range(len(names))):
            raise ValueError(f"{where}: names: the keys of a mapping must be 0..{len(names) - 1}, got "
                             f"{short_repr(list(names))}")
        names = [by_index[k] for k in range(len(names))]
    if not _is_list(names):
        raise ValueError(f"{where}: names: must be a list of class names or a mapping {{0: name, ...}}, got "
                         f"{type(names).__name__} {short_repr(names)}")
    bad = next((n for n in names if not isinstance(n, SCALAR) or isinstance(n, bool)), None)
    if bad is not None:
        raise ValueError(f"{where}: names: each class name must be a plain value, got {type(bad).__name__} "
                         f"{short_repr(bad)}")
    return [str(n) for n in names]


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _checked_types(cfg: Mapping[str, Any], where: str) -> None:
    """Values of the wrong type name their file and key (not ``TypeError: expected str ... not list``)."""
    path = cfg.get("path")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{where}: path: must be a folder, got {type(path).__name__} {short_repr(path)}")
    for key in ("train", "val", "test"):
        value = cfg.get(key)
        items = value if _is_list(value) else [value]
        bad = next((v for v in items if v is not None and not isinstance(v, (str, os.PathLike))), None)
        if bad is not None:
            raise ValueError(f"{where}: {key}: must be a folder, a .txt list or a list of them, got "
                             f"{type(bad).__name__} {short_repr(bad)}")
    nc = cfg.get("nc")
    whole = isinstance(nc, int) or (isinstance(nc, float) and nc.is_integer())
    if nc is not None and (isinstance(nc, bool) or not whole):
        raise ValueError(f"{where}: nc: must be a whole number of classes, got {type(nc).__name__} {short_repr(nc)}")


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
    _checked_types(loaded, f"data.file: {f}")
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
    else:
        _checked_types(cfg, where)
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
    names = _names_list(cfg.get("names"), where)
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
