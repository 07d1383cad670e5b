"""compare --fitness: best epochs chosen again under other weights, as computed by hand; provenance warnings."""
from __future__ import annotations

import json

import pytest

from tests.sweep.runfolders import HEADER, make_run, write_results
from yolo_exp.sweep.compare import main
from yolo_exp.sweep.rerank import best_epoch, parse_weights


def rows(pairs):
    """One results row per (mAP@0.5:0.95, recall); mAP@0.5 = 1.5x, precision = 0.5."""
    return [[e, 0, 0, 0, 0.5, r, 1.5 * m, m, 0, 0, 0, 0.01, 0.01, 0.01] for e, (m, r) in enumerate(pairs)]


def test_parse_weights():
    assert parse_weights("map50=1,map=0") == {"precision": 0.0, "recall": 0.0, "map50": 1.0, "map": 0.0}
    for bad in ("mAP=1", "map50", "map=0", "recall=-1,map=1"):
        with pytest.raises(ValueError):
            parse_weights(bad)


def test_best_epoch_follows_the_weights_and_ties_go_later():
    history = {h: [row[i] for row in rows([(0.30, 0.2), (0.20, 0.9), (0.30, 0.2)])] for i, h in enumerate(HEADER)}
    epoch, best = best_epoch(history, parse_weights("map=1"))
    assert epoch == 3 and best["map"] == 0.30 and best["fitness"] == pytest.approx(0.30)  # tie: later
    epoch, best = best_epoch(history, parse_weights("recall=1"))
    assert epoch == 2 and best["recall"] == 0.9


def test_compare_reranks_runs_and_warns_when_they_saw_other_data(tmp_path, capsys):
    a = make_run(tmp_path / "a", ["hyp.lr0=0.01"], best_map=0.3)
    b = make_run(tmp_path / "b", ["hyp.lr0=0.02"], best_map=0.2)
    write_results(a, rows([(0.10, 0.1), (0.30, 0.2)]))  # a: high mAP, low recall
    write_results(b, rows([(0.20, 0.8), (0.15, 0.9)]))  # b: lower mAP, high recall
    assert main([str(tmp_path), "--json", "--no-seeds"]) == 0
    assert [r["job"] for r in json.loads(capsys.readouterr().out)["rows"]][0] == "a"  # default weights
    assert main([str(tmp_path), "--json", "--no-seeds", "--fitness", "recall=1"]) == 0
    out, err = capsys.readouterr()
    ranked = json.loads(out)["rows"]
    assert [r["job"] for r in ranked] == ["b", "a"] and ranked[0]["recall"] == 0.9 and ranked[0]["best_epoch"] == 2
    assert "warning" not in err
    for run, fingerprint in ((a, "aaaa"), (b, "bbbb")):
        summary = json.loads((run / "summary.json").read_text())
        summary["provenance"] = {"data": {"train": fingerprint, "val": "v"}, "code": {"commit": "c", "dirty": False}}
        (run / "summary.json").write_text(json.dumps(summary))
    assert main([str(tmp_path), "--no-seeds"]) == 0
    err = capsys.readouterr().err
    assert "warning: the runs saw different data (2 versions" in err and "different code" not in err
    assert main([str(tmp_path), "--fitness", "mAP=1"]) == 2


def test_a_segmentation_run_is_reranked_by_box_and_mask_metrics():
    from yolo_exp.report.results import SEG_COLUMNS, epoch_row

    def seg_row(epoch, box_map, mask_map):
        metrics = {"precision": 0.5, "recall": 0.5, "map50": 0.5, "map": box_map, "mask_precision": 0.5,
                   "mask_recall": 0.5, "mask_map50": 0.5, "mask_map": mask_map}
        return epoch_row(epoch, [0.1] * 4, metrics, [0.1] * 4, [0.01] * 3)

    history = {c: [r[c] for r in (seg_row(0, 0.4, 0.1), seg_row(1, 0.2, 0.35))] for c in SEG_COLUMNS}
    assert best_epoch(history, parse_weights("map=1,mask_map=0"))[0] == 1
    epoch, best = best_epoch(history, parse_weights("map=1"))  # unnamed mask weights follow the box ones
    assert epoch == 2 and best["fitness"] == pytest.approx(0.55) and best["mask_map"] == 0.35
