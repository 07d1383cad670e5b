"""The config tree (Hydra finds it as the module yolo_exp.conf); the checkout's conf/ links here."""
