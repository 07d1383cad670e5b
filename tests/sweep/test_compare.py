"""`python -m yolo_exp.sweep.compare` on synthetic run folders: statuses, missing columns, seed groups, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.sweep.runfolders import HEADER, ROOT, curve, dead_pid, make_run, write_results
from yolo_exp.sweep.compare import main


def build(tmp_path):
    sweep = tmp_path / "sweep"
    make_run(sweep / "0", ["hyp.lr0=0.01", "seed=0"], best_map=0.30)
    make_run(sweep / "1", ["hyp.lr0=0.01", "seed=1"], best_map=0.34)
    make_run(sweep / "2", ["hyp.lr0=0.02", "seed=0"], best_map=0.50)
    make_run(sweep / "3", ["hyp.lr0=0.02", "seed=1"], status="failed")
    make_run(sweep / "4", ["hyp.lr0=0.03", "seed=0"], status="running", best_map=0.1, pid=dead_pid())
    other = make_run(tmp_path / "outputs" / "run_a", ["hyp.lr0=0.05", "seed=0"], status=None)
    # an old run without summary.json and with only some results columns
    write_results(other, [r[:1] + r[6:8] for r in curve(0.2)], header=(HEADER[0], *HEADER[6:8]))
    return sweep, other


def test_compare_table_seeds_and_exit_code(tmp_path, capsys):
    sweep, other = build(tmp_path)
    assert main([str(sweep), str(other), "--out", str(tmp_path / "cmp")]) == 1  # a run failed
    out, err = capsys.readouterr()
    lines = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("|  | job | hyp.lr0 | n | status |")
    # runs of two folders: named by their path below the folder they share
    assert lines[2].startswith("| **best** | sweep/2,sweep/3 | 0.02 | 2 | completedx1, failedx1 | 0.5000 ± 0.0000")
    assert "| sweep/0,sweep/1 | 0.01 | 2 | completed | 0.3200 ± 0.0283 |" in out
    assert "| sweep/4 | 0.03 | 1 | interrupted |" in out
    assert "| outputs/run_a | 0.05 | 1 | unknown | - | - | 0.3000 ± 0.0000 | 0.2000 ± 0.0000 |" in out
    assert "1 failed run(s)" in err and str(sweep / "3") in err
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"summary.csv", "summary.md", "compare.png"}


def test_compare_json_per_run_and_sort(tmp_path, capsys):
    sweep, _ = build(tmp_path)
    assert main([str(sweep / "0"), str(sweep / "2"), "--json", "--no-seeds", "--sort", "hyp.lr0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["job"] for r in data["rows"]] == ["0", "2"] and data["failed"] == []
    assert data["rows"][1]["best"] is True and "seed" not in data["rows"][0]  # same seed: not a column
    assert data["rows"][1]["map"] == 0.5


def test_compare_usage_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    make_run(tmp_path / "r", [], best_map=0.1)
    assert main([str(tmp_path / "r"), "--sort", "bogus"]) == 2
    assert "cannot sort by 'bogus'" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    make_run(tmp_path / "r", ["x=1"], status="failed")
    proc = subprocess.run([sys.executable, "-m", "yolo_exp.sweep.compare", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "| r | failed |" in proc.stdout.replace("|  | r", "| r")


def test_malformed_summary_is_one_warning_and_the_run_shown_from_results(tmp_path):
    """A summary.json of the wrong shape gave a traceback (`'str' object has no attribute 'get'`)."""
    for name, text in (("a", '{"status": "completed", "best": "x"}'), ("b", '{"epochs_done": "x"}'), ("c", "[1]"),
                       ("d", "{not json")):
        (make_run(tmp_path / name, [], best_map=0.2) / "summary.json").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "yolo_exp.sweep.compare", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    assert warnings == [
        f"warning: {tmp_path / 'a' / 'summary.json'}: best: expected an object, got \"x\"; shown from results.csv",
        f"warning: {tmp_path / 'b' / 'summary.json'}: epochs_done: expected an integer, got \"x\"; shown from "
        "results.csv",
        f"warning: {tmp_path / 'c' / 'summary.json'}: not a JSON object (a list); shown from results.csv",
        f"warning: {tmp_path / 'd' / 'summary.json'}: not valid JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)); shown from results.csv"]
    assert proc.stdout.count("| unknown | 3 | 3 | 0.2000 |") == 4  # epochs and best epoch (from 1) from results.csv
