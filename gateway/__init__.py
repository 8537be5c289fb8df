"""The gateway: nginx templates and render.py, which renders them for the native run."""
