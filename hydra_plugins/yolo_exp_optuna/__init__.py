"""Hydra sweeper plugin `hydra/sweeper=optuna` (Optuna studies with pruning); logic in yolo_exp.sweep.study."""
