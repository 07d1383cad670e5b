"""What predict.py reads and writes: its sources (images, folders, videos, streams) and outputs (pictures, labels, crops, COCO json)."""
