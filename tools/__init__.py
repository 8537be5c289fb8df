"""Benchmarks and load runs against a running tagloop, run from the repo root as
`.venv/bin/python -m tools.<name>` (scripts/bench, scripts/soak). Imports no test code."""
