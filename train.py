"""Train a YOLOv5-style detector: `python train.py [group=option ...] [key=value ...]` (see README)."""
from yolo_exp.entry import train

if __name__ == "__main__":
    train()
