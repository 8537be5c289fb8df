"""Model building, export and publishing: the part of tagloop that needs TensorFlow.

Only the training side imports this package; inference serves the ONNX export.
"""
