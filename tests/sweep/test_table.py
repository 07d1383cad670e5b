"""Sorting, seed aggregation and rendering of the comparison table."""
from __future__ import annotations

import csv
import io
import math

import pytest

from yolo_exp.sweep.table import (aggregate_seeds, best_index, columns_for, json_rows, sort_rows, to_csv,
                                  to_markdown)


def row(job, lr, seed, fit, status="completed", wall=10.0):
    return {"job": job, "hyp.lr0": lr, "seed": seed, "status": status, "epochs": "2/3", "best_epoch": 1,
            "precision": fit, "recall": fit, "map50": fit, "map": fit, "fitness": fit, "wall_time_s": wall,
            "run_dir": f"/r/{job}"}


def test_sort_missing_last_and_direction():
    rows = [row("0", "0.01", "0", 0.2), row("1", "0.02", "0", math.nan, "failed"), row("2", "0.03", "0", 0.5)]
    assert [r["job"] for r in sort_rows(rows)] == ["2", "0", "1"]
    assert [r["job"] for r in sort_rows(rows, "hyp.lr0")] == ["0", "1", "2"]  # parameters ascend
    with pytest.raises(KeyError):
        sort_rows(rows, "nope")
    assert best_index(sort_rows(rows)) == 0


def test_aggregate_seeds_mean_std_n():
    rows = [row("0", "0.01", "0", 0.2), row("1", "0.01", "1", 0.4), row("2", "0.01", "2", math.nan, "failed"),
            row("3", "0.02", "0", 0.5)]
    agg, keys = aggregate_seeds(rows, ["hyp.lr0", "seed"])
    assert keys == ["hyp.lr0"]
    first = next(r for r in agg if r["hyp.lr0"] == "0.01")
    assert first["n"] == 3 and first["job"] == "0,1,2"
    assert first["fitness"] == pytest.approx(0.3) and first["fitness_std"] == pytest.approx(math.sqrt(0.02))
    assert first["status"] == "completedx2, failedx1"
    single = next(r for r in agg if r["hyp.lr0"] == "0.02")
    assert single["n"] == 1 and single["fitness_std"] == 0.0
    md = to_markdown(sort_rows(agg), keys, aggregated=True)
    assert "0.3000 ± 0.1414" in md and md.splitlines()[2].startswith("| **best** | 3 |")


def test_csv_and_json_mark_best():
    rows = sort_rows([row("0", "0.01", "0", 0.2), row("1", "0.02", "0", math.nan, "failed")])
    cols = columns_for(["hyp.lr0"], aggregated=False)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows, cols))))
    assert [r["best"] for r in parsed] == ["*", ""] and parsed[1]["fitness"] == "" and parsed[1]["status"] == "failed"
    js = json_rows(rows)
    assert js[0]["best"] is True and js[1]["fitness"] is None
    md = to_markdown(rows, ["hyp.lr0"], aggregated=False)
    assert "| failed | 2/3 | 1 | - | - |" in md


def test_mask_columns_appear_only_where_a_run_has_mask_metrics():
    detect = [row("0", "0.01", "0", 0.2)]
    seg = [*detect, {**row("1", "0.02", "0", 0.4), "mask_precision": 0.3, "mask_recall": 0.3, "mask_map50": 0.3,
                     "mask_map": 0.25}]
    assert not any(c.startswith("mask_") for c in columns_for(["hyp.lr0"], False, detect))
    cols = columns_for(["hyp.lr0"], False, seg)
    assert cols.index("mask_map") == cols.index("map") + 4 and cols.index("fitness") == cols.index("mask_map") + 1
    md = to_markdown(sort_rows(seg), ["hyp.lr0"], aggregated=False)
    assert "mask_map" in md.splitlines()[0] and "0.2500" in md and " - |" in md  # the detect run: no mask figures
    agg, _ = aggregate_seeds(seg, ["hyp.lr0", "seed"])
    assert next(r for r in agg if r["hyp.lr0"] == "0.02")["mask_map"] == pytest.approx(0.25)
