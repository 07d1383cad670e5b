"""The exported-model backend: a TorchScript file loads without torch's jit.load deprecation warning."""
from __future__ import annotations

import json
import warnings

import torch

from yolo_exp.deploy.backends import META_FILE, Exported


def test_torchscript_loads_without_the_deprecation_warning(tmp_path):
    path = tmp_path / "m.torchscript"
    meta = {"names": json.dumps(["a"]), "stride": "32", "imgsz": "64"}
    torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 6, 1), torch.zeros(1, 3, 8, 8)), str(path),
                   _extra_files={META_FILE: json.dumps(meta)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Exported(path, torch.device("cpu"))
    assert model.names == ["a"] and not [str(w.message) for w in caught if "jit" in str(w.message)]
