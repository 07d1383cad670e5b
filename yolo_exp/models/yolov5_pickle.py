"""Read official YOLOv5 checkpoints without YOLOv5's code and without running pickled code.

An official ``.pt`` is a torch zip archive whose ``data.pkl`` pickles YOLOv5's module objects. We unpickle it
with a restricted Unpickler: YOLOv5 and ``torch.nn`` classes become inert placeholders that only record their
state, tensors are rebuilt from the raw storages in the archive, and any other global is refused by name.
The placeholders' ``_parameters``/``_buffers``/``_modules`` are then walked to recover the state_dict.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

STORAGE_DTYPES: dict[str, torch.dtype] = {
    "HalfStorage": torch.float16,
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}

# Modules whose classes are replaced by placeholders (never imported).
PLACEHOLDER_MODULES = ("models.", "utils.", "yolov5.models.", "yolov5.utils.", "torch.nn.modules.", "numpy.")  # yolov5.*: the pip package's


class Placeholder:
    """Stands in for a pickled object of a class we do not import: keeps constructor args and state only."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (dict state, slot state) for classes with __slots__
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state if isinstance(state, dict) else {"value": state}

    def __repr__(self) -> str:
        return f"<placeholder {self.qualname}>"


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _placeholder_attribute(owner: Any, name: str) -> Any:
    """``getattr`` as a pickle may call it, restricted to placeholder classes: YOLOv5-seg's Segment keeps
    ``Detect.forward`` as an attribute, pickled as getattr(Detect, "forward"); an inert stand-in comes back."""
    if not (isinstance(owner, type) and issubclass(owner, Placeholder)):
        raise pickle.UnpicklingError(f"refusing getattr on {owner!r} in a YOLOv5 checkpoint")
    return type(name, (Placeholder,), {"qualname": f"{owner.qualname}.{name}"})


SAFE_CALLABLES: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "getattr"): _placeholder_attribute,
    ("__builtin__", "getattr"): _placeholder_attribute,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class YoloV5Unpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals above, YOLOv5/torch.nn placeholders and storage types."""

    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, torch.Tensor] = {}
        self._placeholders: dict[str, type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CALLABLES:
            return SAFE_CALLABLES[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if module.startswith(PLACEHOLDER_MODULES):
            qualname = f"{module}.{name}"
            if qualname not in self._placeholders:
                self._placeholders[qualname] = type(name, (Placeholder,), {"qualname": qualname})
            return self._placeholders[qualname]
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a YOLOv5 checkpoint")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        if key not in self._storages:
            raw = bytearray(self._archive.read(f"{self._prefix}data/{key}"))
            self._storages[key] = torch.frombuffer(raw, dtype=storage_type.dtype) if raw else torch.empty(
                0, dtype=storage_type.dtype)
        return self._storages[key]


@dataclass
class YoloV5Checkpoint:
    """What an official checkpoint holds that we use. ``anchors`` are in grid units, as YOLOv5 stores them."""

    state_dict: dict[str, torch.Tensor]
    nc: int | None = None
    names: list[str] | None = None
    anchors: torch.Tensor | None = None
    yaml: dict[str, Any] | None = None
    model_class: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _state_dict(module: Placeholder, prefix: str = "") -> dict[str, torch.Tensor]:
    """Mirror ``nn.Module.state_dict`` naming on placeholder state."""
    state = module.state
    out: dict[str, torch.Tensor] = {}
    for name, t in (state.get("_parameters") or {}).items():
        if t is not None:
            out[prefix + name] = t
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, t in (state.get("_buffers") or {}).items():
        if t is not None and name not in skip:
            out[prefix + name] = t
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, Placeholder):
            out.update(_state_dict(child, f"{prefix}{name}."))
    return out


def _find_detect(module: Placeholder) -> Placeholder | None:
    """The last submodule holding an ``anchors`` buffer (YOLOv5's Detect)."""
    found = None
    if "anchors" in (module.state.get("_buffers") or {}):
        found = module
    for child in (module.state.get("_modules") or {}).values():
        if isinstance(child, Placeholder):
            found = _find_detect(child) or found
    return found


def _names_list(names: Any) -> list[str] | None:
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    return None


def unpickle_archive(path: str | Path) -> Any:
    """The raw unpickled object of a torch zip archive, under the restricted rules above."""
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise pickle.UnpicklingError(f"{path}: not a torch zip checkpoint (found {len(pkl)} data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise pickle.UnpicklingError(f"{path}: big-endian checkpoints are not supported")
        return YoloV5Unpickler(io.BytesIO(archive.read(pkl[0])), archive, prefix).load()


def read_yolov5_checkpoint(path: str | Path) -> YoloV5Checkpoint:
    """Load an official YOLOv5 ``.pt`` (EMA weights when present, as YOLOv5 itself does)."""
    ckpt = unpickle_archive(path)
    if isinstance(ckpt, Placeholder):
        ckpt = {"model": ckpt}
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: unexpected checkpoint type {type(ckpt).__name__}")
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, Placeholder):
        raise ValueError(f"{path}: no pickled model under 'ema' or 'model'")
    detect = _find_detect(model)
    attrs = model.state
    yaml_ = attrs.get("yaml") if isinstance(attrs.get("yaml"), dict) else None
    nc = detect.state.get("nc") if detect is not None else None
    extra = {k: v for k, v in ckpt.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return YoloV5Checkpoint(
        state_dict=_state_dict(model),
        nc=int(nc) if nc is not None else (yaml_ or {}).get("nc"),
        names=_names_list(attrs.get("names")),
        anchors=detect.state["_buffers"]["anchors"] if detect is not None else None,
        yaml=yaml_,
        model_class=model.qualname,
        extra=extra,
    )
