"""Measurement: throughput benchmarks (``python -m yolo_exp.bench``), profiles, and the GPU report."""
