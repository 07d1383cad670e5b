"""Entry: `python -m yolo_exp.compare PATH...` (see yolo_exp.sweep.compare)."""
import sys

from yolo_exp.sweep.compare import main

if __name__ == "__main__":
    sys.exit(main())
