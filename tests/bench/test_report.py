"""The GPU lever table (bench/gpu.sh's last step) from the benchmark's own JSON files."""
from __future__ import annotations

import json

from yolo_exp.bench import cli as bench
from yolo_exp.bench.report import lever_table


def test_lever_table_joins_step_and_loop_figures_per_lever(tmp_path):
    assert bench.main(["step", "model=yolov5n", "imgsz=64", "batch_size=2", "device=cpu", "--iters", "1",
                       "--peak-tflops", "1", "--json", str(tmp_path / "step_fp16_cl.json")]) == 0
    (tmp_path / "loop_fp16_cl.json").write_text(json.dumps({"rows": [{"images_per_s": 1.5, "data_wait": 0.25}]}))
    (tmp_path / "loop_compile.json").write_text(json.dumps({"rows": [{"images_per_s": 3.0, "data_wait": 0.5}]}))
    (tmp_path / "bccd_yolov5s").mkdir()
    (tmp_path / "bccd_yolov5s" / "summary.json").write_text(json.dumps({"final": {"map50": 0.9, "map": 0.55}}))
    lines = lever_table(tmp_path).splitlines()
    step = json.loads((tmp_path / "step_fp16_cl.json").read_text())["rows"][0]
    row = next(ln for ln in lines if ln.startswith("fp16_cl "))
    assert f"{step['images_per_s']:.0f}" in row and "25%" in row and f"{1.5 / step['images_per_s']:.2f}" in row
    assert next(ln for ln in lines if ln.startswith("compile ")).split()[1] == "-"  # a loop without a step
    assert any("1027" in ln for ln in lines) and any("ours" in ln and "map 0.550" in ln for ln in lines)
