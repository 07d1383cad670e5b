"""A trained model outside training: export to ONNX and TorchScript, and the backends that run .pt, .onnx and
.torchscript files behind one interface for val.py and predict.py."""
