"""Installed use: the wheel carries the config tree, the model yamls and the sweeper plugins, and its `yolo-train`
entry point trains from any folder, without the source checkout."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_wheel_trains_from_any_folder(tmp_path):
    src = tmp_path / "src"  # built from a copy: the build leaves nothing in the checkout
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("yolo_exp", "hydra_plugins"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("yolo_exp-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "installed")
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for needed in ("yolo_exp/conf/config.yaml", "yolo_exp/conf/model/yolov5n.yaml", "yolo_exp/conf/hyp/scratch.yaml",
                   "hydra_plugins/yolo_exp_optuna/optuna_sweeper.py"):
        assert needed in names, needed
    for command in ("train", "val", "predict", "export"):
        assert f"yolo-{command} = yolo_exp.entry:{command}" in entry_points
    # -S: no site processing, so the checkout's editable install is not seen; its dependencies are added by hand
    deps = [p for p in site.getsitepackages() if os.path.isdir(p)]
    code = (f"import sys; sys.path[:0] = [{str(tmp_path / 'installed')!r}]; sys.path += {deps!r}; "
            "import yolo_exp; assert yolo_exp.__file__.startswith(sys.path[0]), yolo_exp.__file__; "
            "sys.argv = ['yolo-train', 'debug=fast', 'data.shapes.n_train=8', 'data.shapes.n_val=4', 'workers=0']; "
            "from yolo_exp.entry import train; train()")
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=work, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((work / "outputs").glob("*/*/weights/best.pt"))
    assert len(runs) == 1
