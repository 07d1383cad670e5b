from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo_exp.data.loader import create_dataloader, prefetch_factor

from .conftest import write_pair

AUG = {"degrees": 5.0, "mixup": 0.5, "flipud": 0.5}


def _epochs(workers: int, seed: int, src, n_epochs: int = 2):
    loader, _ = create_dataloader(src, 64, 2, 32, 3, hyp=AUG, augment=True, workers=workers, shuffle=True, seed=seed)
    out = []
    for _ in range(n_epochs):
        for imgs, targets, paths, _ in loader:
            out.append((imgs.clone(), targets.clone(), paths))
    return out


def _same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2]
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_batches(good_dataset, workers):
    src = good_dataset / "images" / "train"
    first = _epochs(workers, 0, src)
    assert _same(first, _epochs(workers, 0, src))
    assert not _same(first, _epochs(workers, 1, src))
    assert [b[2] for b in first[:3]] != [b[2] for b in first[3:]]  # epochs are shuffled differently


def test_batch_format(good_dataset):
    loader, ds = create_dataloader(good_dataset / "images" / "train", 64, 4, 32, 3, workers=0)
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (4, 3, 64, 64) and imgs.dtype == torch.uint8
    assert targets.dtype == torch.float32 and targets.shape == (sum(len(lb) for lb in ds.labels[:4]), 6)
    assert targets[:, 0].tolist() == [0, 1, 1, 2, 3, 3]
    assert len(paths) == 4 and shapes[0] == ((48, 64), ((1.0, 1.0), (0.0, 8.0)))
    np.testing.assert_allclose(targets[0, 1:].numpy(), [0, 0.5, 0.5, 0.4, 0.3 * 48 / 64], atol=1e-6)
    assert len(loader) == 2 and ds.batch_shapes is None


def test_close_mosaic_reaches_persistent_workers(tmp_path):
    """Images of one flat colour each: a mosaic shows several colours, a letterboxed image only one."""
    import cv2

    for i in range(8):
        p = write_pair(tmp_path, f"f{i}", "0 0.5 0.5 0.2 0.2\n", size=(64, 64), ext=".png")
        cv2.imencode(".png", np.full((64, 64, 3), 10 + 25 * i, np.uint8))[1].tofile(str(p))
    hyp = {"hsv_h": 0, "hsv_s": 0, "hsv_v": 0, "translate": 0, "scale": 0, "fliplr": 0}
    loader, ds = create_dataloader(tmp_path / "images" / "train", 64, 4, 32, 1, hyp=hyp, augment=True, workers=2,
                                   shuffle=True)

    def colours_per_image():
        return [len(set(np.unique(im[0].numpy())) - {114}) for imgs, *_ in loader for im in imgs]

    assert max(colours_per_image()) > 1
    workers_before = loader._iterator._workers if loader._iterator is not None else None
    ds.mosaic = False
    assert max(colours_per_image()) == 1
    assert loader._iterator._workers is workers_before  # the same persistent workers served both epochs


def test_seeds_never_share_an_epochs_order():
    """With seed + epoch, seed 1 would replay seed 0's orders one epoch later; (seed, epoch) is mixed instead."""
    from yolo_exp.data.loader import EpochSampler

    class Data(list):
        mosaic, indices = False, None

    def order(seed: int, epoch: int) -> list[int]:
        sampler = EpochSampler(Data(range(50)), shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return [i for i, _, _ in sampler]

    orders = {(s, e): order(s, e) for s in range(3) for e in range(4)}
    assert len({tuple(o) for o in orders.values()}) == len(orders)
    assert order(1, 2) == orders[(1, 2)]  # still a pure function of (seed, epoch)


def test_distributed_shards_are_disjoint(good_dataset):
    src = good_dataset / "images" / "train"
    seen = []
    for rank in range(2):
        loader, _ = create_dataloader(src, 64, 1, 32, 3, workers=0, shuffle=True, rank=rank, world_size=2)
        loader.sampler.set_epoch(3)
        seen.append([p for _, _, paths, _ in loader for p in paths])
    assert len(seen[0]) == len(seen[1]) == 3 and not set(seen[0]) & set(seen[1])


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # cpu_count is faked
@pytest.mark.parametrize("cpus, ranks, asked, expect", [(8, 1, 16, 4), (8, 4, 8, 2), (2, 4, 8, 0), (64, 1, 3, 3)])
def test_workers_capped_by_cores_per_rank_and_batch(good_dataset, monkeypatch, cpus, ranks, asked, expect):
    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(ranks))
    loader, _ = create_dataloader(good_dataset / "images" / "train", 64, 4, 32, 3, workers=asked)
    assert loader.num_workers == expect


def test_image_weights_indices_are_read_each_epoch(good_dataset):
    loader, ds = create_dataloader(good_dataset / "images" / "train", 64, 3, 32, 3, workers=0, image_weights=True)
    ds.indices = np.full(len(ds), 4)
    assert {p for _, _, paths, _ in loader for p in paths} == {ds.im_files[4]}


def _count(ds):
    return len(ds), ds.stats, sum(len(lb) for lb in ds.labels)


@pytest.mark.parametrize(
    "dataset, split, expect",
    [
        ("coco128", "train", (128, {"found": 126, "background": 2, "empty": 0, "corrupt": 0}, 929)),
        ("coco128", "val", (128, {"found": 128, "background": 0, "empty": 0, "corrupt": 0}, 898)),
        ("bccd", "train", (205, {"found": 205, "background": 0, "empty": 0, "corrupt": 0}, 2804)),
        ("bccd", "val", (87, {"found": 87, "background": 0, "empty": 0, "corrupt": 0}, 1137)),
        ("bccd", "test", (72, {"found": 72, "background": 0, "empty": 0, "corrupt": 0}, 945)),
    ],
)
def test_real_datasets_match_their_readme(dataset, split, expect, tmp_path):
    from tests.conftest import shared_path

    src = shared_path("datasets", dataset, "images", split)
    nc = 80 if dataset == "coco128" else 3
    loader, ds = create_dataloader(src, 320, 16, 32, nc, rect=True, pad=0.5, workers=0, cache_dir=tmp_path)
    assert _count(ds) == expect
    imgs, targets, _, _ = next(iter(loader))
    assert imgs.shape[2] % 32 == 0 and imgs.shape[3] % 32 == 0 and max(imgs.shape[2:]) <= 320 + 32
    assert not (src.parents[1] / "labels" / f"{split}.cache").exists()


def test_prefetch_queue_stays_within_shared_memory_budget():
    assert prefetch_factor(2, 16 * 3 * 320 * 320) == 4  # small CPU runs keep the deeper queue
    assert prefetch_factor(16, 64 * 3 * 640 * 640) == 2  # 4 would queue 5 GiB in /dev/shm
