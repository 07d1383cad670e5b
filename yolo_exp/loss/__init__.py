"""The training objectives: YOLOv5's detection loss with its target assignment (detect), and the mask loss on top of it (segment)."""
