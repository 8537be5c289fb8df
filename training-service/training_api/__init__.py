"""tagloop's training service: corrections, retrain jobs (RQ) and model versions."""
