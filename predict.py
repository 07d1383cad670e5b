"""Detect objects: `python predict.py weights=PATH source=IMAGE|FOLDER|GLOB|LIST.txt|VIDEO|0|URL` (see README)."""
from yolo_exp.entry import predict

if __name__ == "__main__":
    predict()
