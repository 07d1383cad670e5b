"""A trained model outside training: export to ONNX and TorchScript (the backends that run every format live in yolo_exp.models.backends)."""
