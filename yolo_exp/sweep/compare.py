"""`python -m yolo_exp.sweep.compare PATH... [--sort KEY] [--json] [--out DIR] [--no-seeds]`

PATHs are run folders or folders holding runs (sweeps, outputs/), in any mix. `--fitness map50=1,map=0` ranks
by other weights (each run's best epoch chosen again from its results.csv); a warning says when the runs saw
different data or different code (summary.json's provenance). Columns: the parameters that
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

from yolo_exp.sweep.rerank import parse_weights
from yolo_exp.sweep.summary import summarize


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_exp.sweep.compare", description=__doc__.split("\n\n")[1],
                                epilog="Exit status: 1 when any run failed.")
    p.add_argument("paths", nargs="+", help="run folders and/or folders holding runs")
    p.add_argument("--sort", default="fitness", help="column to sort by (metrics descending, others ascending)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--out", help="also write summary.csv, summary.md and compare.png into this folder")
    p.add_argument("--no-seeds", action="store_true", help="one row per run, even when only the seed differs")
    p.add_argument("--fitness", help="rank by other weights, e.g. map50=1,map=0 (best epochs chosen again from "
                                     "results.csv; YOLOv5's: map50=0.1,map=0.9)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from yolo_exp.sweep.table import json_rows

    args = parse_args(argv)
    try:
        weights = parse_weights(args.fitness) if args.fitness else None
        report = summarize(args.paths, out_dir=args.out, sort=args.sort, aggregate=not args.no_seeds,
                           fitness=weights)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
