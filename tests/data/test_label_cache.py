from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest

from yolo_exp.data import label_cache
from yolo_exp.data.dataset import load_records

from .conftest import write_pair


def _scans(monkeypatch) -> list[int]:
    calls = []
    import yolo_exp.data.dataset as ds

    real = ds.scan

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(ds, "scan", counting)
    return calls


def test_cache_in_cache_dir_reused_then_rebuilt_on_touch(good_dataset, monkeypatch, caplog, tmp_path):
    calls = _scans(monkeypatch)
    src = [good_dataset / "images" / "train"]
    before = sorted(p.relative_to(good_dataset) for p in (good_dataset / "labels").rglob("*"))
    recs, stats = load_records(src, nc=3, cache_dir=tmp_path / "cache")
    assert label_cache.cache_path(src, tmp_path / "cache").is_file() and stats["found"] == 6
    assert sorted(p.relative_to(good_dataset) for p in (good_dataset / "labels").rglob("*")) == before  # untouched
    again, _ = load_records(src, nc=3, cache_dir=tmp_path / "cache")
    assert len(calls) == 1
    for a, b in zip(recs, again):
        assert a.im_file == b.im_file and a.shape == b.shape and a.status == b.status
        np.testing.assert_array_equal(a.labels, b.labels)
    lb = good_dataset / "labels" / "train" / "im0.txt"
    lb.write_text("1 0.5 0.5 0.1 0.1\n")
    os.utime(lb, ns=(time.time_ns() + 10**9,) * 2)
    with caplog.at_level(logging.INFO):
        fresh, _ = load_records(src, nc=3, cache_dir=tmp_path / "cache")
    assert len(calls) == 2 and "stale" in caplog.text
    assert fresh[0].labels[0, 0] == 1


@pytest.mark.parametrize("garbage", [b"", b"garbage" * 10, None])
def test_garbage_or_truncated_cache_is_rebuilt(good_dataset, monkeypatch, garbage, caplog):
    calls = _scans(monkeypatch)
    src = [good_dataset / "images" / "train"]
    load_records(src, nc=3)
    cache = label_cache.cache_path(src)
    data = cache.read_bytes()
    cache.write_bytes(garbage if garbage is not None else data[: len(data) // 2])
    with caplog.at_level(logging.INFO):
        recs, _ = load_records(src, nc=3)
    assert len(calls) == 2 and len(recs) == 6 and "unreadable" in caplog.text
    assert cache.stat().st_size == len(data)


def test_settings_are_part_of_the_key(good_dataset, monkeypatch):
    calls = _scans(monkeypatch)
    src = [good_dataset / "images" / "train"]
    load_records(src, nc=3)
    recs, stats = load_records(src, nc=2)  # class 2 now exceeds nc: must rescan, not reuse
    assert len(calls) == 2 and stats["corrupt"] == 3


def test_shared_dataset_never_written(tmp_path):
    from tests.conftest import shared_path

    root = shared_path("datasets", "coco128")
    p = label_cache.cache_path([root / "images" / "train"], tmp_path)
    assert p.parent == tmp_path / "label_caches"


def test_missing_labels_folder_error_names_folder_and_rule(tmp_path):
    write_pair(tmp_path, "a", None)
    write_pair(tmp_path, "b", None)
    (tmp_path / "labels" / "train").rmdir()
    with pytest.raises(ValueError, match=r"no labels found for the images in .*images/train; label path = "):
        load_records([tmp_path / "images" / "train"], nc=3)
    with pytest.raises(FileNotFoundError, match="no images"):
        load_records([tmp_path / "labels"], nc=3)


def test_a_zip_bomb_in_place_of_the_cache_is_rescanned_not_inflated(tmp_path, caplog):
    from tests.files.test_limits import zip_bomb
    from yolo_exp.data import label_cache

    zip_bomb(tmp_path / "x.cache")
    with caplog.at_level("INFO"):
        assert label_cache.load(tmp_path / "x.cache", "key") is None
    assert "unreadable (ValueError); rescanning" in caplog.text
