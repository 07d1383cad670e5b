import os
import pickle
import zipfile

import pytest
import torch
from torch import nn

from yolo_exp.models.yolov5_pickle import Placeholder, read_yolov5_checkpoint, unpickle_archive


class _Shell(nn.Module):
    """A pickled full module, like YOLOv5 saves: classes from this test module are not allow-listed."""


def test_full_torch_module_pickle_reads_as_placeholders(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SiLU()).half()
    path = tmp_path / "net.pt"
    torch.save({"model": net, "epoch": 3}, path)
    obj = unpickle_archive(path)
    assert isinstance(obj["model"], Placeholder) and obj["epoch"] == 3
    assert obj["model"].qualname == "torch.nn.modules.container.Sequential"
    ckpt = read_yolov5_checkpoint(path)
    ref = net.state_dict()
    assert set(ckpt.state_dict) == set(ref)
    for k, v in ref.items():
        assert torch.equal(ckpt.state_dict[k], v) and ckpt.state_dict[k].dtype == v.dtype


def test_unknown_global_is_refused_by_name(tmp_path):
    path = tmp_path / "other.pt"
    shell = _Shell()
    torch.save({"model": shell}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global .*test_yolov5_pickle\._Shell"):
        unpickle_archive(path)


def test_not_a_torch_archive(tmp_path):
    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(pickle.UnpicklingError, match="not a torch zip checkpoint"):
        unpickle_archive(path)


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def make_malicious_checkpoint(path, target) -> None:
    """A torch zip checkpoint whose unpickling would run a shell command."""
    torch.save({"model": {"w": torch.zeros(2)}, "payload": _Evil(str(target))}, path)


def test_malicious_pickle_refused(tmp_path):
    path, target = tmp_path / "evil.pt", tmp_path / "pwned"
    make_malicious_checkpoint(path, target)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global (posix|nt|os)\.system"):
        read_yolov5_checkpoint(path)
    assert not target.exists()


class _GetattrOn:
    """Pickles as getattr(owner, name), as YOLOv5-seg's Segment keeps Detect.forward."""

    def __init__(self, owner, name: str) -> None:
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def test_getattr_is_allowed_on_placeholder_classes_only(tmp_path):
    path = tmp_path / "seg.pt"
    torch.save({"model": nn.Sequential(nn.SiLU()), "forward": _GetattrOn(nn.Sequential, "forward")}, path)
    obj = unpickle_archive(path)  # nn.Sequential is a placeholder: its attribute is an inert stand-in
    assert issubclass(obj["forward"], Placeholder) and obj["forward"].qualname.endswith("Sequential.forward")
    from collections import OrderedDict  # an allowed global, but no placeholder: no attribute of it is handed out

    torch.save({"x": _GetattrOn(OrderedDict, "fromkeys")}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        unpickle_archive(tmp_path / "evil.pt")
