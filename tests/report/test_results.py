import pytest

from yolo_exp.report.results import COLUMNS, append_row, plot_results, read_results, truncate_after


def test_results_csv_layout_and_round_trip(tmp_path):
    path = tmp_path / "results.csv"
    for epoch in range(3):
        append_row(path, {c: float(epoch) + 0.5 * (c != "epoch") for c in COLUMNS})
    header = path.read_text().splitlines()[0]
    assert [h.strip() for h in header.split(",")] == list(COLUMNS) and len(COLUMNS) == 14
    rows = read_results(path)
    assert [r["epoch"] for r in rows] == [0, 1, 2] and rows[1]["metrics/mAP_0.5"] == 1.5
    truncate_after(path, 0)
    assert [r["epoch"] for r in read_results(path)] == [0]
    assert plot_results(path).stat().st_size > 10_000


def test_a_segmentation_row_has_yolov5_segs_columns(tmp_path):
    """Four loss items mean a segmentation run: box metrics marked (B), mask metrics (M), YOLOv5-seg's order."""
    from yolo_exp.report.results import SEG_COLUMNS, epoch_row, row_metrics

    metrics = {"precision": 0.1, "recall": 0.2, "map50": 0.3, "map": 0.4, "mask_precision": 0.5,
               "mask_recall": 0.6, "mask_map50": 0.7, "mask_map": 0.8}
    row = epoch_row(3, [1.0, 2.0, 3.0, 4.0], metrics, [5.0, 6.0, 7.0, 8.0], [0.01, 0.02, 0.03])
    assert list(row) == list(SEG_COLUMNS) and len(SEG_COLUMNS) == 20
    assert row["train/seg_loss"] == 2.0 and row["metrics/mAP_0.5:0.95(M)"] == 0.8 and row["val/cls_loss"] == 8.0
    path = tmp_path / "results.csv"
    append_row(path, row)
    back = read_results(path)[0]
    assert row_metrics(back) == pytest.approx(metrics)
    assert [h.strip() for h in path.read_text().splitlines()[0].split(",")] == list(SEG_COLUMNS)
    assert plot_results(path).stat().st_size > 10_000


def test_a_segmentation_row_reads_back_with_mask_metrics_and_their_fitness():
    """What compare, summary recovery and Optuna's intermediate values read from a seg results.csv row."""
    from yolo_exp.metrics.fitness import fitness
    from yolo_exp.report.results import epoch_row
    from yolo_exp.report.summary import short_metrics

    metrics = {"precision": 0.1, "recall": 0.2, "map50": 0.3, "map": 0.4, "mask_precision": 0.5,
               "mask_recall": 0.6, "mask_map50": 0.7, "mask_map": 0.8}
    short = short_metrics(epoch_row(0, [1.0] * 4, metrics, [1.0] * 4, [0.1] * 3))
    assert short == pytest.approx({**metrics, "fitness": fitness(metrics)})
    assert short["fitness"] == pytest.approx(0.03 + 0.36 + 0.07 + 0.72)
