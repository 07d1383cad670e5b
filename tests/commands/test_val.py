"""val.py: same figures as the final validation inside training; official YOLOv5 weights; nc mismatch."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path
from tests.engine.test_trainer import TINY, only_run, train


def val(cwd, *args):
    return subprocess.run([sys.executable, str(ROOT / "val.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # the default suite's time (CI budget)
def test_val_py_reproduces_training_figures_and_checks_nc(tmp_path):
    train(tmp_path, *TINY, "epochs=2", "keep_optimizer=true")
    run = only_run(tmp_path)
    trained = json.loads((run / "metrics.json").read_text())
    data = [o for o in TINY if o.startswith("data.")]
    # Training validates with batch 2 x batch_size; rect batch shapes depend on the batch, so match it.
    proc = val(tmp_path, f"weights={run / 'weights' / 'best.pt'}", *data, "imgsz=64", "batch_size=16",
               "name=check")
    assert proc.returncode == 0, proc.stderr[-2000:]
    checked = json.loads(next((tmp_path / "outputs").glob("*/*_check/metrics.json")).read_text())
    for key in ("precision", "recall", "map50", "map"):
        assert checked[key] == pytest.approx(trained[key], abs=1e-9), key

    bad = val(tmp_path, f"weights={run}", "data=coco128",  # a run folder: its best.pt
              f"data.path={shared_path('datasets', 'coco128')}")
    assert bad.returncode != 0 and "nc=4 but the data has nc=80" in bad.stderr

    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")  # val.py -m: the failing job is recorded, not fatal
    sweep = tmp_path / "vsweep"
    proc = val(tmp_path, "-m", f"weights={tmp_path / 'broken.pt'},{run / 'weights' / 'best.pt'}", *data,
               "imgsz=64", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 1 and "1 of 2 jobs failed: 0" in proc.stderr, proc.stderr[-3000:]
    assert json.loads((sweep / "0" / "summary.json").read_text())["status"] == "failed"
    assert (sweep / "0" / "traceback.txt").is_file() and (sweep / "1" / "metrics.json").is_file()


@pytest.mark.slow
def test_val_py_on_official_yolov5n_coco128(tmp_path):
    weights = shared_path("weights", "yolov5n.pt")
    proc = val(tmp_path, f"weights={weights}", "data=coco128", f"data.path={shared_path('datasets', 'coco128')}",
               "task=train", "imgsz=640", "batch_size=32", f"cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(next((tmp_path / "outputs").glob("*/*/metrics.json")).read_text())
    for key, ref in (("precision", 0.572), ("recall", 0.508), ("map50", 0.560), ("map", 0.361)):
        assert abs(m[key] - ref) <= 0.003, (key, m[key])
