"""Validate a checkpoint: `python val.py weights=PATH [data=...] [task=val|test|train|speed]` (see README)."""
from yolo_exp.entry import val

if __name__ == "__main__":
    val()
