"""Hydra sweeper plugin `hydra/sweeper=evolve` (YOLOv5-style hyperparameter evolution); logic in yolo_exp.sweep."""
