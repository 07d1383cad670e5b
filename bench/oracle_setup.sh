#!/usr/bin/env bash
# Builds the YOLOv5 oracle of the parity checks (docs/quality.md) in its own virtual environment, outside the repo:
# the `yolov5` package from PyPI with the few pins it needs on today's Python, NMS's time limit off, and a local font
# for its plots (it would download Arial). Nothing of it is committed or imported by yolo_exp.
#
#   bash bench/oracle_setup.sh [VENV]      # default /work/oracle/venv; bench/parity.sh's ORACLE
set -euo pipefail
VENV=${1:-/work/oracle/venv}
python3 -m venv "$VENV"
# one resolver call: in two, the second one silently downgraded torch to 2.12.1 to meet 'setuptools<70' (torch 2.14
# needs setuptools>=77); yolov5 only needs pkg_resources, which setuptools keeps up to 80
"$VENV/bin/pip" install -q 'torch==2.14.1' 'torchvision==0.29.1' 'yolov5==7.0.14' 'setuptools<81' 'Pillow<10' \
    'numpy<2.3'
"$VENV/bin/python" -c 'import torch, pkg_resources; print("oracle torch", torch.__version__)'
SP=$("$VENV/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("yolov5").origin))')
# numpy 2 removed np.trapz (its metrics use it); NMS gives up after a time limit on a slow CPU: off for parity
{ grep -rl 'np\.trapz' "$SP" || true; } | xargs -r sed -i 's/np\.trapz/np.trapezoid/g'  # rerunnable
sed -i 's/time_limit = .*/time_limit = float("inf")  # oracle: no NMS time limit/' "$SP/utils/general.py"
grep -n 'time_limit = ' "$SP/utils/general.py"
FONT=$(fc-match -f '%{file}' DejaVuSans 2>/dev/null || find / -name 'DejaVuSans.ttf' 2>/dev/null | head -1)
mkdir -p ~/.config/Ultralytics
for f in Arial.ttf Arial.Unicode.ttf; do [ -f "$FONT" ] && cp "$FONT" ~/.config/Ultralytics/$f; done
echo "oracle ready: $VENV ($SP)"
