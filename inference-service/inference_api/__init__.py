"""tagloop inference service: ONNX Runtime predictions with hot reload of model versions."""
