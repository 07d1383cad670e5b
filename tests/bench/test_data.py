from __future__ import annotations

from yolo_exp.bench.data import bench_loader


def test_bench_loader_reports_rate_and_memory(good_dataset):
    rows = bench_loader(good_dataset / "images" / "train", 64, 2, [0, 1], n_batches=4, nc=3)
    assert [r["workers"] for r in rows] == [0, 1]
    assert all(r["images_per_s"] > 0 and r["main_rss_mb"] > 0 for r in rows)
    assert rows[0]["workers_rss_mb"] == 0 and rows[1]["workers_rss_mb"] > 0


def test_bench_loader_renders_gpu_augment_batches_on_the_device(good_dataset):
    """data.gpu_augment=true: the figure includes making the images where training would (here the CPU)."""
    rows = bench_loader(good_dataset / "images" / "train", 64, 2, [0], n_batches=2, nc=3, gpu_augment=True)
    assert rows[0]["gpu_augment"] is True and rows[0]["images_per_s"] > 0
    assert rows[0]["augment_device"] in ("cpu", "cuda")
