"""The disk image cache (cache=disk) survives damaged entries: a truncated .npy (a kill, a full disk) is found
when the cache is set up and when read, and rebuilt from its image; when it cannot be, the error names both."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo_exp.data.dataset import YoloDataset
from yolo_exp.data.image_cache import DiskImageCache, intact

from .conftest import write_pair


def _truncate(npy, keep: int = 40) -> None:
    npy.write_bytes(npy.read_bytes()[:keep])


def test_damaged_entries_are_rebuilt_at_setup_and_on_read(good_dataset, tmp_path, caplog):
    src = good_dataset / "images" / "train"
    cache = tmp_path / "cache"
    first = YoloDataset(src, imgsz=64, nc=3, cache="disk", cache_dir=cache)
    expected = [first[i][0] for i in range(len(first))]
    npys = sorted((cache / "images").glob("*.npy"))
    assert len(npys) == 6 and all(intact(p) for p in npys)
    _truncate(npys[0])  # inside the header: "EOF: reading array header" on main
    _truncate(npys[1], len(npys[1].read_bytes()) - 7)  # a header that parses, data cut short
    assert not intact(npys[0]) and not intact(npys[1])
    again = YoloDataset(src, imgsz=64, nc=3, cache="disk", cache_dir=cache)
    assert "2 damaged entries rebuilt" in caplog.text and all(intact(p) for p in npys)
    for p in again._npy:  # damaged after setup, while training: rebuilt when read
        _truncate(p)
    assert all(torch.equal(again[i][0], expected[i]) for i in range(len(again)))
    assert "is damaged" in caplog.text and all(intact(p) for p in npys)


def test_an_entry_that_cannot_be_rebuilt_names_both_files(tmp_path):
    im = write_pair(tmp_path, "a", None)
    cache = DiskImageCache(tmp_path / "cache")
    (npy,) = cache.build([str(im)])
    np.testing.assert_array_equal(cache.read(str(im), npy).shape, (48, 64, 3))
    _truncate(npy)
    im.write_bytes(b"no longer an image")
    with pytest.raises(ValueError, match=rf"{npy.name} for .*a.jpg is damaged .* cannot be rebuilt: cannot decode"):
        cache.read(str(im), npy)
