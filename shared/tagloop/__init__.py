"""tagloop's shared package: what the inference and training services both import."""
