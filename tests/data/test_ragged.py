"""Labels and polygons stored as one array + offsets: the same items as the lists they replace, shared by forks."""
from __future__ import annotations

import types

import numpy as np
import pytest

from yolo_exp.bench.procmem import epoch_touch_uss_mb
from yolo_exp.data.ragged import RaggedGroups, RaggedRows, RaggedStrings


def _arrays(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((int(k), 5)).astype(np.float32) for k in rng.integers(0, 4, n)]


def test_rows_give_the_arrays_back_by_index_slice_and_order():
    arrays = _arrays(50)
    r = RaggedRows.of(arrays, 5)
    assert len(r) == 50 and r.flat.flags.c_contiguous and r.lengths().tolist() == [len(a) for a in arrays]
    for got, want in zip(r, arrays):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(r[-1], arrays[-1])
    assert [len(x) for x in r[3:9:2]] == [len(a) for a in arrays[3:9:2]]
    order = list(np.random.default_rng(1).permutation(50))
    for got, i in zip(r.take(order), order):
        np.testing.assert_array_equal(got, arrays[i])
    with pytest.raises(IndexError):
        r[50]
    assert not RaggedRows.of([], 5) and np.concatenate(r).shape == (sum(map(len, arrays)), 5)


def test_a_write_to_an_item_reaches_the_store():
    r = RaggedRows.of(_arrays(10), 5)
    for lb in r:
        lb[:, 0] = 7
    assert (r.flat[:, 0] == 7).all()


def test_groups_give_each_image_its_polygons():
    rng = np.random.default_rng(2)
    groups = [[rng.random((int(m), 2)).astype(np.float32) for m in rng.integers(3, 9, k)] for k in (0, 2, 1, 0, 3)]
    g = RaggedGroups.of(groups, 2)
    assert [len(x) for x in g] == [0, 2, 1, 0, 3] and g[0] == [] and g[-1][2].shape == groups[4][2].shape
    for got, want in zip(g.take([4, 1]), [groups[4], groups[1]]):
        assert all(np.array_equal(a, b) for a, b in zip(got, want)) and len(got) == len(want)


def test_strings_give_the_paths_back_as_a_list_would():
    paths = [f"/data/images/{i:06d}.jpg" for i in range(40)] + ["/données/图.jpg", "/bad/\udcff.jpg", ""]
    r = RaggedStrings.of(paths)
    assert len(r) == len(paths) and list(r) == paths and r == paths and r[-2] == paths[-2] and r[2:5] == paths[2:5]
    assert r.index("/données/图.jpg") == 40 and "/data/images/000007.jpg" in r
    assert list(r.take([41, 0, 40])) == [paths[41], paths[0], paths[40]]


def test_a_forked_reader_copies_the_list_of_paths_but_not_the_strings():
    paths = [f"/data/coco/images/train2017/{i:012d}.jpg" for i in range(100_000)]
    as_list = epoch_touch_uss_mb(types.SimpleNamespace(im_files=paths), collect=False)
    as_store = epoch_touch_uss_mb(types.SimpleNamespace(im_files=RaggedStrings.of(paths)), collect=False)
    if as_list == 0:
        pytest.skip("no fork or no /proc/<pid>/smaps_rollup here")
    assert as_store < as_list - 2  # 100k str headers have their refcounts written in the list's case


def test_a_forked_reader_copies_the_list_of_arrays_but_not_the_store():
    arrays = _arrays(60_000, seed=3)
    as_list = epoch_touch_uss_mb(types.SimpleNamespace(labels=arrays), collect=False)
    as_store = epoch_touch_uss_mb(types.SimpleNamespace(labels=RaggedRows.of(arrays, 5)), collect=False)
    if as_list == 0:
        pytest.skip("no fork or no /proc/<pid>/smaps_rollup here")
    assert as_store < as_list - 2  # 60k array headers (~7 MB) have their refcounts written in the list's case


def test_whole_dataset_figures_are_those_of_the_lists():
    """The fingerprint (kept in summary.json, compared across runs) and AutoAnchor's label sizes do not change."""
    import hashlib
    import os

    from yolo_exp.data.label_cache import data_fingerprint
    from yolo_exp.models.autoanchor import label_wh

    arrays = _arrays(300, seed=4)
    files = [f"/d/images/{i:04d}.jpg" for i in range(300)]
    h = hashlib.sha256()
    for f, lb in zip(files, arrays):  # the definition: each name, then its labels as float32
        h.update(os.path.basename(f).encode())
        h.update(np.ascontiguousarray(lb, np.float32).tobytes())
    store = RaggedRows.of(arrays, 5)
    assert data_fingerprint(files, arrays) == data_fingerprint(files, store) == h.hexdigest()[:16]
    shapes = np.random.default_rng(5).integers(20, 900, (300, 2))
    want = np.concatenate([lb[:, 3:5].astype(np.float64) * (320 * s / s.max()) for s, lb in zip(shapes.astype(float), arrays)])
    np.testing.assert_array_equal(label_wh(shapes, store, 320), want)
    np.testing.assert_array_equal(label_wh(shapes, arrays, 320), want)
