"""``python -m yolo_exp.bench ...`` (yolo_exp.bench.cli)."""
import os
import sys
import time

T_START = time.perf_counter()  # before the heavy imports: time to first iteration includes them
# Read by OpenMP when torch loads, so it must precede every torch import (train.py does the same): idle threads
# sleep instead of spinning, which keeps a busy machine (data workers, other jobs) from stalling each op.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from yolo_exp.bench.cli import main  # noqa: E402

sys.exit(main(t0=T_START))
