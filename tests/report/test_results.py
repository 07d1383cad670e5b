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
