"""Export a checkpoint: `python export.py weights=PATH format=onnx|torchscript` (see README)."""
from yolo_exp.entry import export

if __name__ == "__main__":
    export()
