"""One job per command, as Hydra runs it: train, val, predict, export (yolo_exp.entry maps each command here)."""
