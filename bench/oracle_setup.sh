#!/usr/bin/env bash
# Builds the YOLOv5 oracle of the parity checks (docs/quality.md) in its own virtual environment, outside the repo:
# the `yolov5` package from PyPI with the few pins it needs on today's Python, NMS's time limit off, and a local font
# for its plots (it would download Arial). Nothing of it is committed or imported by yolo_exp.
#
#   bash bench/oracle_setup.sh [VENV]      # default /work/oracle/venv; bench/parity.sh's ORACLE
set -euo pipefail
VENV=${1:-/work/oracle/venv}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q 'torch==2.14.1' 'torchvision==0.29.1'
"$VENV/bin/pip" install -q 'yolov5==7.0.14' 'setuptools<70' 'Pillow<10' 'numpy<2.3'
SP=$("$VENV/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("yolov5").origin))')
# numpy 2 removed np.trapz (its metrics use it); NMS gives up after a time limit on a slow CPU: off for parity
grep -rl 'np\.trapz' "$SP" | xargs -r sed -i 's/np\.trapz/np.trapezoid/g'
sed -i 's/time_limit = .*/time_limit = float("inf")  # oracle: no NMS time limit/' "$SP/utils/general.py"
grep -n 'time_limit = ' "$SP/utils/general.py"
FONT=$(fc-match -f '%{file}' DejaVuSans 2>/dev/null || find / -name 'DejaVuSans.ttf' 2>/dev/null | head -1)
mkdir -p ~/.config/Ultralytics
for f in Arial.ttf Arial.Unicode.ttf; do [ -f "$FONT" ] && cp "$FONT" ~/.config/Ultralytics/$f; done
echo "oracle ready: $VENV ($SP)"
