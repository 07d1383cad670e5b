"""`python -m yolo_exp.compare PATH... [--sort KEY] [--json] [--out DIR] [--no-seeds]`

PATHs are run folders or folders holding runs (sweeps, outputs/), in any mix. Columns: the parameters that
differ between the runs (group choices and overrides), status, best epoch and the metrics at it, wall time.
Runs that differ only by `seed` are grouped into one row (mean ± std, n) unless --no-seeds. Runs without
summary.json or with missing results columns are shown with what they have.

Exit status: 0, or 1 when any run failed (status `failed`), 2 for a usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from yolo_exp.sweep.summary import summarize


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_exp.compare", description=__doc__.split("\n\n")[1],
                                epilog="Exit status: 1 when any run failed.")
    p.add_argument("paths", nargs="+", help="run folders and/or folders holding runs")
    p.add_argument("--sort", default="fitness", help="column to sort by (metrics descending, others ascending)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--out", help="also write summary.csv, summary.md and compare.png into this folder")
    p.add_argument("--no-seeds", action="store_true", help="one row per run, even when only the seed differs")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from yolo_exp.sweep.table import json_rows

    args = parse_args(argv)
    try:
        report = summarize(args.paths, out_dir=args.out, sort=args.sort, aggregate=not args.no_seeds)
    except (FileNotFoundError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"rows": json_rows(report.rows), "failed": report.failed}, indent=2))
    else:
        print(report.markdown, end="")
        if report.files:
            print("wrote " + ", ".join(str(f) for f in report.files))
    if report.failed:
        print(f"{len(report.failed)} failed run(s): " + ", ".join(report.failed), file=sys.stderr)
        return 1
    return 0
