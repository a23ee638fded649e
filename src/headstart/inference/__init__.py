"""Prediction from a run folder (torch or ONNX), and export to ONNX."""
